import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FleetManifest } from "../../agent/src/core/fleet/fleet-manifest.js";
import { includeLine, renderClientConfig, renderFleetKnownHosts, withIncludeAtTop, type ClientConfigInput } from "../../agent/src/core/fleet/ssh-client-config.js";
import { freshEd25519 } from "./helpers/test-keys.js";

const keyA = freshEd25519().split(" ").slice(0, 2).join(" ");
const keyB = freshEd25519().split(" ").slice(0, 2).join(" ");
const manifest: FleetManifest = {
  version: 1,
  fleet: "dev",
  domain: "pod",
  nodes: [
    { name: "fa", address: "127.0.0.2", port: 2240, hostKeys: [keyA] },
    { name: "fb", address: "127.0.0.3", port: 2240, hostKeys: [keyB, keyA] },
  ],
};
const input: ClientConfigInput = {
  manifest,
  command: ["/usr/bin/node", "/opt/podspawn/podspawn.cjs"],
  manifestSource: "/etc/podspawn/fleet.json",
  knownHostsFile: "/home/al/.ssh/podspawn/known_hosts",
  configFile: "/home/al/.ssh/podspawn/config",
  projects: ["work", "web", "work"],
};

describe("renderClientConfig", () => {
  const text = renderClientConfig(input);

  it("gives each project its own Host block with a literal SetEnv (no %n: OpenSSH < 10)", () => {
    assert.match(text, /^Host work\.pod work\.dev\.pod\n {2}SetEnv PODSPAWN_PROJECT=work\n/m);
    assert.match(text, /^Host web\.pod web\.dev\.pod\n {2}SetEnv PODSPAWN_PROJECT=web\n/m);
    assert.doesNotMatch(text, /^\s*SetEnv .*%/m);
    assert.equal(text.match(/^Host work\.pod/gm)?.length, 1, "duplicates are dropped");
  });

  it("runs connect by absolute paths with %r %h %p and the manifest it was set up with", () => {
    assert.match(text, /^ {2}ProxyCommand \/usr\/bin\/node \/opt\/podspawn\/podspawn\.cjs connect --manifest \/etc\/podspawn\/fleet\.json '%r' '%h' %p$/m);
  });

  it("pins host keys: one alias, the fleet known_hosts, StrictHostKeyChecking yes, never no", () => {
    const block = text.slice(text.indexOf("Host *.pod"));
    assert.match(block, /^ {2}HostKeyAlias podspawn-dev$/m);
    assert.match(block, /^ {2}UserKnownHostsFile \/home\/al\/\.ssh\/podspawn\/known_hosts$/m);
    assert.match(block, /^ {2}StrictHostKeyChecking yes$/m);
    assert.match(block, /^ {2}UpdateHostKeys no$/m);
    assert.doesNotMatch(text, /StrictHostKeyChecking\s+(no|accept-new|off)/i);
    assert.doesNotMatch(text, /KexAlgorithms/);
  });

  it("puts the project blocks before the catch-all (ssh keeps the first value it reads)", () => {
    assert.ok(text.indexOf("Host web.pod") < text.indexOf("Host *.pod"));
    assert.ok(text.indexOf("Host work.pod") < text.indexOf("Host *.pod"));
  });

  it("makes the catch-all refuse names that have no project block", () => {
    assert.match(text, /^Host \*\.pod\n {2}ProxyCommand .* connect --manifest \S+ --refuse-unlisted '%r' '%h' %p$/m);
  });

  it("quotes for the shell and doubles % in the ProxyCommand; quotes paths with blanks", () => {
    const t = renderClientConfig({ ...input, command: ["/opt/my tools/podspawn"], manifestSource: "https://x.example/m.json?v=100%25&a=1", knownHostsFile: "/home/a b/kh" });
    assert.match(t, /ProxyCommand '\/opt\/my tools\/podspawn' connect --manifest 'https:\/\/x\.example\/m\.json\?v=100%%25&a=1' '%r' '%h' %p/);
    assert.match(t, /UserKnownHostsFile "\/home\/a b\/kh"/);
  });

  const refused: [string, Partial<ClientConfigInput>, RegExp][] = [
    ["a relative command", { command: ["podspawn"] }, /command\[0\]: "podspawn" is not an absolute path/],
    ["a quote in a path", { command: ["/opt/it's/podspawn"] }, /contains a quote/],
    ["a newline in the manifest source", { manifestSource: "/m.json\nHost *" }, /control character/],
    ["'$' (ssh expands ${VAR})", { knownHostsFile: "/home/${USER}/kh" }, /'\$'/],
    ["an invalid project", { projects: ["Bad;Name"] }, /--project: "Bad;Name" is not a valid project name/],
    ["no projects", { projects: [] }, /no projects given/],
  ];
  for (const [what, change, problem] of refused) {
    it(`refuses ${what}`, () => assert.throws(() => renderClientConfig({ ...input, ...change }), problem));
  }
});

describe("renderFleetKnownHosts", () => {
  it("lists every node's keys once, all under podspawn-<fleet>", () => {
    const lines = renderFleetKnownHosts(manifest).split("\n").filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(lines, [`podspawn-dev ${keyA}`, `podspawn-dev ${keyB}`]);
  });
});

describe("the Include line", () => {
  const line = includeLine("/home/al/.ssh/podspawn/config");

  it("is one Include of the absolute config path", () => assert.equal(line, "Include /home/al/.ssh/podspawn/config"));

  it("is added at the very top, once", () => {
    const first = withIncludeAtTop("Host *\n  ServerAliveInterval 30\n", line);
    assert.equal(first.changed, true);
    assert.match(first.text, /^# Added by .*\nInclude \/home\/al\/\.ssh\/podspawn\/config\n\nHost \*\n/);
    const second = withIncludeAtTop(first.text, line);
    assert.deepEqual(second, { text: first.text, changed: false, misplaced: false });
  });

  it("creates the file's text when there is none", () => {
    assert.match(withIncludeAtTop(null, line).text, /^# Added by .*\nInclude .*\n$/);
  });

  it("counts a copy among the leading global lines as present", () => {
    const text = "# mine\nInclude   /home/al/.ssh/podspawn/config\nHost x\n  User y\n";
    assert.equal(withIncludeAtTop(text, line).changed, false);
  });

  it("adds it at the top when the only copy sits inside a Host block, and says so", () => {
    const edit = withIncludeAtTop("Host x\n  Include /home/al/.ssh/podspawn/config\n", line);
    assert.equal(edit.changed, true);
    assert.equal(edit.misplaced, true);
    assert.ok(edit.text.indexOf("Include") < edit.text.indexOf("Host x"));
  });
});

describe("renderClientConfig with the IDE mode", () => {
  const caA = freshEd25519().split(" ").slice(0, 2).join(" ");
  const caB = freshEd25519().split(" ").slice(0, 2).join(" ");
  const withCas: FleetManifest = { ...manifest, nodes: [{ ...manifest.nodes[0]!, hostCa: caA }, { ...manifest.nodes[1]!, hostCa: caB }] };
  const text = renderClientConfig({ ...input, manifest: withCas, ide: true });

  it("gives each project an <project>.ide.<domain> block whose ProxyCommand is the plain session running podspawn-sshd", () => {
    assert.match(text, /^Host work\.ide\.pod work\.ide\.dev\.pod\n {2}ProxyCommand ssh -T -o ClearAllForwardings=yes -o ForwardAgent=no -o RequestTTY=no %r@work\.pod podspawn-sshd\n {2}HostKeyAlias podspawn-ide\n {2}UserKnownHostsFile \/home\/al\/\.ssh\/podspawn\/known_hosts\n {2}StrictHostKeyChecking yes\n {2}UpdateHostKeys no\n/m);
    assert.match(text, /^Host web\.ide\.pod web\.ide\.dev\.pod$/m);
  });

  it("puts the IDE blocks before the catch-all (ssh keeps the first value) and never turns host key checking off", () => {
    assert.ok(text.indexOf("Host work.ide.pod") < text.indexOf("Host *.pod"));
    assert.doesNotMatch(text, /StrictHostKeyChecking (no|accept-new|off)/i);
  });

  it("writes no IDE block without the flag", () => {
    assert.doesNotMatch(renderClientConfig({ ...input, manifest: withCas }), /\.ide\./);
  });

  it("pins every node's host CA as @cert-authority for the inner alias, in the known_hosts file", () => {
    const kh = renderFleetKnownHosts(withCas, true);
    assert.ok(kh.split("\n").includes(`@cert-authority podspawn-ide ${caA}`));
    assert.ok(kh.split("\n").includes(`@cert-authority podspawn-ide ${caB}`));
    assert.doesNotMatch(renderFleetKnownHosts(withCas), /@cert-authority/);
  });

  it("refuses --ide when a node has no hostCa, naming the node", () => {
    assert.throws(() => renderClientConfig({ ...input, ide: true }), /--ide: the manifest has no hostCa for node\(s\) fa, fb/);
  });

  it("refuses --ide for a fleet named ide, whose names the IDE names would shadow", () => {
    assert.throws(() => renderClientConfig({ ...input, manifest: { ...withCas, fleet: "ide" }, ide: true }), /--ide: the fleet is named "ide"/);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import { containerSpec } from "../../agent/src/core/container/container-spec.js";
import type { ContainerAccount } from "../../agent/src/core/container/exec-plan.js";
import { HOST_CERT_VALIDITY_MS, hostCertIdentity, hostKeygenArgs, hostSignArgs, INNER_HOST_PRINCIPAL } from "../../agent/src/core/ide/host-cert.js";
import { planInnerFiles, renderInnerAuthorizedKeys } from "../../agent/src/core/ide/inner-files.js";
import { INNER_PATHS, isInnerSshdCommand, NO_SSHD_MESSAGE, planInnerSshdExec } from "../../agent/src/core/ide/inner-sshd.js";
import { renderInnerSshdConfig } from "../../agent/src/core/ide/inner-sshd-config.js";
import { parseSessionRequest } from "../../agent/src/core/protocol/session-request.js";
import { parsePublicKey } from "../../agent/src/core/users/keys.js";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { InnerSshd } from "../../agent/src/daemon/session/inner-sshd-channel.js";
import type { HostCa } from "../../agent/src/adapters/ssh/host-ca.js";
import { UserFacingError } from "../../agent/src/core/errors.js";
import { freshEd25519 } from "./helpers/test-keys.js";

const account: ContainerAccount = { name: "alice", uid: 70000, gid: 70001, home: "/home/alice", shell: "/bin/bash" };
const request = parseSessionRequest({ v: 1, command: "podspawn-sshd", project: "web" });
const keyA = parsePublicKey(freshEd25519("a@laptop"));
const keyB = parsePublicKey(freshEd25519("a@desktop"));

/** sshd_config as a map of keyword (lowercased) to its value lines. */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [k = "", ...rest] = line.trim().split(/\s+/);
    out.set(k.toLowerCase(), [...(out.get(k.toLowerCase()) ?? []), rest.join(" ")]);
  }
  return out;
}

describe("isInnerSshdCommand", () => {
  it("is exactly podspawn-sshd (blanks around allowed), nothing longer or shorter", () => {
    assert.equal(isInnerSshdCommand("podspawn-sshd"), true);
    assert.equal(isInnerSshdCommand("  podspawn-sshd \n"), true);
    for (const c of [null, "", "podspawn-sshd -d", "podspawn-sshd;id", "sshd -i", "podspawn-sshdx", "xpodspawn-sshd"]) assert.equal(isInnerSshdCommand(c), false, String(c));
  });
});

describe("renderInnerSshdConfig", () => {
  const d = directives(renderInnerSshdConfig("alice"));
  const one = (k: string): string | undefined => d.get(k.toLowerCase())?.[0];

  it("authenticates only alice, by public key from the daemon's root-owned file", () => {
    assert.equal(one("AuthorizedKeysFile"), INNER_PATHS.authorizedKeys);
    assert.equal(one("AuthenticationMethods"), "publickey");
    assert.equal(one("PasswordAuthentication"), "no");
    assert.equal(one("KbdInteractiveAuthentication"), "no");
    assert.equal(one("AllowUsers"), "alice");
    assert.equal(one("UsePAM"), "no");
    assert.equal(one("StrictModes"), "yes");
    assert.equal(one("PermitUserEnvironment"), "no");
  });

  it("presents the certified host key and writes no pid file (sshd is not root)", () => {
    assert.equal(one("HostKey"), INNER_PATHS.hostKey);
    assert.equal(one("HostCertificate"), INNER_PATHS.hostCert);
    assert.equal(one("PidFile"), "none");
  });

  it("allows TCP, agent and unix-socket forwarding on loopback; no X11, no tun, no gateway ports", () => {
    assert.equal(one("AllowTcpForwarding"), "yes");
    assert.equal(one("AllowAgentForwarding"), "yes");
    assert.equal(one("AllowStreamLocalForwarding"), "yes");
    assert.equal(one("GatewayPorts"), "no");
    assert.equal(one("X11Forwarding"), "no");
    assert.equal(one("PermitTunnel"), "no");
  });

  it("serves sftp from the sshd binary itself, and each keyword once", () => {
    assert.equal(one("Subsystem"), "sftp internal-sftp");
    for (const [k, v] of d) assert.equal(v.length, 1, `${k} appears ${v.length} times`);
  });
});

describe("planInnerSshdExec", () => {
  it("runs sshd -i with the daemon's config as the user, without a TTY, in the home directory", () => {
    const plan = planInnerSshdExec(request, account, "/usr/sbin/sshd");
    assert.deepEqual(plan.argv, ["/usr/sbin/sshd", "-i", "-f", INNER_PATHS.config]);
    assert.equal(plan.kind, "inner-sshd");
    assert.equal(plan.tty, false);
    assert.equal(plan.user, "70000:70001");
    assert.equal(plan.workdir, "/home/alice");
    assert.ok(plan.env.includes("PODSPAWN_PROJECT=web"));
  });

  it("never asks sshd to log to stderr (the user's stderr stays ours)", () => {
    const plan = planInnerSshdExec(request, account, "/usr/sbin/sshd");
    assert.ok(!plan.argv.includes("-e") && !plan.argv.includes("-E") && !plan.argv.includes("-d"));
  });
});

describe("planInnerFiles", () => {
  const byPath = (entries: ReturnType<typeof planInnerFiles>) => new Map(entries.map((e) => [`/${e.path}`, e]));

  it("writes config and keys root-owned 0644 under root-owned 0755 directories", () => {
    const files = byPath(planInnerFiles(account, [keyA], null));
    for (const p of [INNER_PATHS.dir, INNER_PATHS.sshdDir]) assert.deepEqual([files.get(p)?.type, files.get(p)?.mode, files.get(p)?.uid, files.get(p)?.gid], ["dir", 0o755, 0, 0], p);
    for (const p of [INNER_PATHS.config, INNER_PATHS.authorizedKeys]) assert.deepEqual([files.get(p)?.mode, files.get(p)?.uid, files.get(p)?.gid], [0o644, 0, 0], p);
    assert.equal(files.has(INNER_PATHS.hostKey), false, "no host key when none is issued");
  });

  it("gives the host key to the user alone (0600) and the certificate to root (0644)", () => {
    const files = byPath(planInnerFiles(account, [keyA], { privateKey: Buffer.from("PRIVATE"), certificate: Buffer.from("CERT") }));
    const key = files.get(INNER_PATHS.hostKey);
    assert.deepEqual([key?.mode, key?.uid, key?.gid, key?.data?.toString()], [0o600, 70000, 70001, "PRIVATE"]);
    const cert = files.get(INNER_PATHS.hostCert);
    assert.deepEqual([cert?.mode, cert?.uid, cert?.data?.toString()], [0o644, 0, "CERT"]);
  });

  it("lists every registered key as a bare `type base64` line", () => {
    const text = renderInnerAuthorizedKeys("alice", [keyA, keyB]);
    const lines = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    assert.deepEqual(lines, [`${keyA.type} ${keyA.base64}`, `${keyB.type} ${keyB.base64}`]);
  });
});

describe("host certificate inputs", () => {
  it("signs a host certificate (-h) for the one principal, with a backdated, bounded validity", () => {
    const args = hostSignArgs("/var/lib/p/host-ca/host_ca", "/tmp/x/host_key", "p:alice:web:abc");
    assert.deepEqual(args, ["-q", "-s", "/var/lib/p/host-ca/host_ca", "-h", "-I", "p:alice:web:abc", "-n", INNER_HOST_PRINCIPAL, "-V", `-5m:+${HOST_CERT_VALIDITY_MS / 60_000}m`, "/tmp/x/host_key.pub"]);
  });

  it("makes an ed25519 key without a passphrase", () => {
    assert.deepEqual(hostKeygenArgs("/tmp/x/k", "id"), ["-q", "-t", "ed25519", "-N", "", "-C", "id", "-f", "/tmp/x/k"]);
  });

  it("names instance, user, project and the short container id, and refuses what is not an id", () => {
    assert.equal(hostCertIdentity({ instance: "podspawn", user: "alice", project: "web", containerId: "0123456789abcdef0123" }), "podspawn:alice:web:0123456789ab");
    assert.throws(() => hostCertIdentity({ instance: "podspawn", user: "alice", project: "web", containerId: "x y" }), /not a container id/);
  });
});

/** A CA that counts what it issues, instead of running ssh-keygen (that one is tested in integration). */
function countingCa(): HostCa & { issued: string[] } {
  const issued: string[] = [];
  return { publicKey: "ssh-ed25519 AAAA", issued, issue: async (identity) => (issued.push(identity), { privateKey: Buffer.from(`key ${issued.length}`), certificate: Buffer.from(`cert ${issued.length}`) }) };
}

async function runningContainer(runtime: FakeRuntime, withSshd: boolean): Promise<string> {
  const spec = containerSpec("podspawn", "alice", "web", DEFAULT_NODE_CONFIG);
  const files: [string, Buffer][] = [["/etc/passwd", Buffer.from("root:x:0:0::/root:/bin/sh\n")], ["/bin/sh", Buffer.alloc(0)]];
  if (withSshd) files.push(["/usr/sbin/sshd", Buffer.alloc(0)]);
  runtime.images.set(spec.image, new Map(files));
  const id = await runtime.create(spec);
  await runtime.start(id);
  return id;
}

describe("InnerSshd (daemon side, on the fake runtime)", () => {
  it("issues one host key per container, and rewrites the user's keys at every session", async () => {
    const runtime = new FakeRuntime();
    const id = await runningContainer(runtime, true);
    const ca = countingCa();
    let keys = [keyA];
    const inner = new InnerSshd({ instance: "podspawn", hostCa: async () => ca, keysOf: async () => keys, now: () => 1_000_000 });
    const open = () => inner.open({ runtime, containerId: id, user: "alice", account, request });
    (await open()).hangUp();
    keys = [keyB];
    (await open()).hangUp();
    assert.equal(ca.issued.length, 1, "the second session reuses the container's key");
    const files = await runtime.readFiles(id, [INNER_PATHS.authorizedKeys, INNER_PATHS.hostKey, INNER_PATHS.config]);
    assert.match(files.get(INNER_PATHS.authorizedKeys)?.toString() ?? "", new RegExp(keyB.base64.replace(/[+/]/g, "\\$&")));
    assert.doesNotMatch(files.get(INNER_PATHS.authorizedKeys)?.toString() ?? "", new RegExp(keyA.base64.replace(/[+/]/g, "\\$&")), "a key removed from the registry is gone");
    assert.equal(files.get(INNER_PATHS.hostKey)?.toString(), "key 1");
    assert.match(files.get(INNER_PATHS.config)?.toString() ?? "", /^AllowUsers alice$/m);
  });

  it("issues a new key when the certificate has less than a day left", async () => {
    const runtime = new FakeRuntime();
    const id = await runningContainer(runtime, true);
    const ca = countingCa();
    let now = 0;
    const inner = new InnerSshd({ instance: "podspawn", hostCa: async () => ca, keysOf: async () => [keyA], now: () => now });
    (await inner.open({ runtime, containerId: id, user: "alice", account, request })).hangUp();
    now = HOST_CERT_VALIDITY_MS - 23 * 3600_000;
    (await inner.open({ runtime, containerId: id, user: "alice", account, request })).hangUp();
    assert.equal(ca.issued.length, 2);
  });

  it("refuses an image without sshd with the one line, issuing and writing nothing", async () => {
    const runtime = new FakeRuntime();
    const id = await runningContainer(runtime, false);
    const ca = countingCa();
    const inner = new InnerSshd({ instance: "podspawn", hostCa: async () => ca, keysOf: async () => [keyA] });
    await assert.rejects(inner.open({ runtime, containerId: id, user: "alice", account, request }), (err: unknown) => err instanceof UserFacingError && err.message === NO_SSHD_MESSAGE);
    assert.equal(ca.issued.length, 0);
    assert.equal(await runtime.pathExists(id, INNER_PATHS.config), false);
  });
});

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { renderSystemdUnit } from "../../agent/src/core/host/systemd-unit.js";
import { renderNodeUnits } from "../../infra/src/bootstrap/node-units.js";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { packAgentBundle, sha256Hex } from "../../infra/src/bootstrap/agent-bundle.js";
import { renderBootstrapScript, type BootstrapParams } from "../../infra/src/bootstrap/bootstrap-script.js";
import { renderUserData, USER_DATA_LIMIT_BYTES } from "../../infra/src/bootstrap/user-data.js";
import { packTar, readTarFiles, type TarEntry } from "../../agent/src/support/tar.js";
import { packProjectsBundle, PROJECTS_BUNDLE_MAX_BYTES, PROJECTS_BUNDLE_MAX_FILES } from "../../infra/src/bootstrap/projects-bundle.js";
import { InputError } from "../../agent/src/core/errors.js";
import { parseNodeConfigYaml } from "../../agent/src/core/config/node-config.js";

const cloud: BootstrapParams = {
  instance: "podspawn",
  node: "node-1",
  agentPointerUrl: "s3://acme-artifacts/agent/current.sha256",
  agentBaseUrl: "s3://acme-artifacts/agent/",
  usersPointerUrl: "s3://acme-artifacts/config/users.sha256",
  usersBaseUrl: "s3://acme-artifacts/config/users-",
  statusUrl: "s3://acme-artifacts/status/node-1.json",
  awsRegion: "eu-central-1",
  hostKeyUrl: "ssm:/podspawn/acme/prod/node-1/host-key",
};

const withProjects: BootstrapParams = {
  ...cloud,
  projectsPointerUrl: "s3://acme-artifacts/config/projects.sha256",
  projectsBaseUrl: "s3://acme-artifacts/config/projects-",
};

/** The body of a bash function in the rendered script. */
function fn(script: string, name: string): string {
  const start = script.indexOf(`\n${name}() {`);
  assert.ok(start >= 0, `no function ${name}`);
  return script.slice(start, script.indexOf("\n}\n", start) + 2);
}

describe("bootstrap script", () => {
  it("is valid bash for cloud and local sources", () => {
    for (const p of [cloud, { ...cloud, agentPointerUrl: "file:///opt/a/current", agentBaseUrl: "file:///opt/a/", usersPointerUrl: "http://127.0.0.1:8080/users.sha256", usersBaseUrl: "http://127.0.0.1:8080/u-", statusUrl: "file:///var/lib/s.json", hostKeyUrl: undefined, awsRegion: undefined }]) {
      execFileSync("bash", ["-n"], { input: renderBootstrapScript(p) });
    }
  });

  it("names no release: the agent and users come through pointers, each object checked against the sha256 its pointer holds", () => {
    const s = renderBootstrapScript(cloud);
    assert.match(s, /^AGENT_POINTER_URL='s3:\/\/acme-artifacts\/agent\/current\.sha256'$/m);
    assert.doesNotMatch(s, /[0-9a-f]{64}/);
    const pinned = fn(s, "fetch_pinned");
    assert.ok(pinned.indexOf("sha256sum -c") > pinned.indexOf("fetch "), "fetch, then verify");
    const stage = fn(s, "stage_agent");
    assert.ok(stage.indexOf("fetch_pinned") < stage.indexOf("tar -xzf"), "verified before unpacking");
    assert.match(fn(s, "read_pointer"), /\[\[ \$POINTED =~ \^\[0-9a-f\]\{64\}\$ \]\] \|\| die/);
    assert.match(fn(s, "cmd_sync_users"), /fetch_pinned "\$USERS_BASE_URL\$POINTED\.json" "\$POINTED"/);
    assert.match(fn(s, "cmd_sync_users"), /\[\[ " \$POINTER_FLAGS " == \*" allow-mass-removal "\* \]\] && flags\+=\(--allow-mass-removal\)/);
  });

  it("retries every fetch and apt-get with doubling backoff", () => {
    const s = renderBootstrapScript({ ...cloud, retry: { attempts: 4, firstDelayMs: 500 } });
    assert.match(s, /^RETRY_ATTEMPTS=4$/m);
    assert.match(s, /^RETRY_DELAY_MS=500$/m);
    assert.match(fn(s, "retry"), /ms=\$\(\(ms \* 2\)\)/);
    assert.match(fn(s, "fetch"), /retry fetch_once/);
    assert.match(fn(s, "install_packages"), /retry apt-get -o Acquire::Retries=3 update/);
    assert.match(fn(s, "install_packages"), /retry apt-get -o Acquire::Retries=3 install/);
    // Every source goes through fetch (with retries); fetch_once is called from nowhere else.
    assert.deepEqual(s.match(/^[^#\n]*\bfetch_once\b.*$/gm), ["fetch_once() {", 'fetch() { retry fetch_once "$1" "$2" || die "cannot fetch $1"; }'], "defined once, called once (by fetch)");
  });

  it("installs apparmor where the kernel has AppArmor and apparmor_parser is missing", () => {
    const s = fn(renderBootstrapScript(cloud), "install_packages");
    assert.match(s, /if apparmor_enabled && ! command -v apparmor_parser >\/dev\/null 2>&1; then need\+=\(apparmor\); fi/);
    assert.match(renderBootstrapScript(cloud), /apparmor_enabled\(\) \{ \[ "\$\(cat \/sys\/module\/apparmor\/parameters\/enabled/);
  });

  it("only calls apt-get for commands that are missing", () => {
    const s = renderBootstrapScript(cloud);
    for (const [cmd, pkg] of [["node", "nodejs"], ["docker", "docker.io"], ["aws", "awscli"], ["debootstrap", "debootstrap"]]) {
      assert.match(s, new RegExp(`command -v ${cmd} >/dev/null 2>&1 \\|\\| need\\+=\\(${pkg}\\)`));
    }
    assert.match(s, /if \[ "\$\{#need\[@\]\}" -gt 0 \]; then/);
  });

  it("provides the default environment image with the agent's image kit before the daemon starts", () => {
    const s = renderBootstrapScript({ ...cloud, defaultImage: "podspawn/default:test" });
    assert.match(s, /^DEFAULT_IMAGE='podspawn\/default:test'$/m);
    assert.match(fn(s, "ensure_image"), /node "\$1\/build-image\.mjs" --only default --tag "\$DEFAULT_IMAGE" --default-context "\$1\/podfiles\/default"/);
    const boot = fn(s, "cmd_bootstrap");
    assert.ok(boot.indexOf("ensure_image") < boot.indexOf("start_daemon"));
  });

  it("runs the same install and server-setup commands an admin runs, then the daemon, the timers and sshd", () => {
    const s = renderBootstrapScript(cloud);
    assert.match(s, /podspawn\.cjs" install --instance "\$INSTANCE" --bundle-dir "\$1" --node "\$node"/);
    assert.match(s, /"\$COMMAND" server-setup "\$\{SSHD_FLAGS\[@\]\}" --auth file/);
    assert.match(s, /"\$COMMAND" sync --file/);
    assert.match(s, /systemctl enable --now "\$INSTANCE"d\.service/);
    assert.match(s, /systemctl enable --now "\$INSTANCE"-sync\.timer "\$INSTANCE"-agent-update\.timer/);
  });

  it("upgrades the agent drained: verify, build the image, drain and wait, restart, lift only its own drain", () => {
    const s = fn(renderBootstrapScript({ ...cloud, upgradeMaxWaitSeconds: 120 }), "cmd_update_agent");
    const order = ["read_pointer", "stage_agent", "ensure_image", "drain --json", "stop_daemon", "apply_agent", "start_daemon", "undrain"].map((w) => s.indexOf(w));
    assert.deepEqual([...order].sort((a, b) => a - b), order, `in this order: ${order.join(", ")}`);
    assert.ok(order.every((i) => i > 0));
    assert.match(s, /--wait "\$\{UPGRADE_MAX_WAIT\}s"/);
    assert.match(s, /\[ "\$drained_here" = 1 \] && "\$COMMAND" undrain/);
  });

  it("records each step in a status file and a failure with its step", () => {
    const s = renderBootstrapScript(cloud);
    assert.match(fn(s, "write_status"), /"state":"%s","step":"%s"/);
    assert.match(fn(s, "on_exit"), /write_status "\$FAIL_STATE"/);
    assert.match(fn(s, "cmd_bootstrap"), /trap 'on_exit \$\?' EXIT/);
    assert.match(fn(s, "publish"), /s3:\/\/\*\) aws .* s3 cp/);
  });

  it("blocks the metadata address for containers in DOCKER-USER, v4 and v6, and persists it", () => {
    const s = renderBootstrapScript(cloud);
    assert.match(s, /iptables:169\.254\.169\.254\/32 ip6tables:fd00:ec2::254\/128/);
    // Escaped once for the heredoc that writes the persistent firewall script.
    assert.match(s, /-I DOCKER-USER -d "\\\$dst" -m comment --comment \$INSTANCE-imds -j DROP/);
    assert.match(s, /WantedBy=multi-user.target docker.service/);
  });

  it("refuses values that would break out of the script", () => {
    assert.throws(() => renderBootstrapScript({ ...cloud, agentPointerUrl: "s3://b/k';rm -rf /;'" }), InputError);
    assert.throws(() => renderBootstrapScript({ ...cloud, agentBaseUrl: "s3://bucket/agent" }), /does not end in '\/' or '-'/);
    assert.throws(() => renderBootstrapScript({ ...cloud, node: "Node_1" }), InputError);
    assert.throws(() => renderBootstrapScript({ ...cloud, instance: "other" }), InputError);
    assert.throws(() => renderBootstrapScript({ ...cloud, awsRegion: "eu central" }), InputError);
    assert.throws(() => renderBootstrapScript({ ...cloud, statusUrl: "http://127.0.0.1/s" }), /statusUrl: must be s3:\/\/ or file:\/\//);
    fc.assert(fc.property(fc.string(), (junk) => {
      try {
        const s = renderBootstrapScript({ ...cloud, usersPointerUrl: `file:///x${junk}` });
        return !/[';`$\n]/.test(junk) && s.includes(`USERS_POINTER_URL='file:///x${junk}'`);
      } catch (err) {
        return err instanceof InputError;
      }
    }));
  });
});

describe("node units", () => {
  it("pass systemd-analyze verify, with the daemon's unit", () => {
    const dir = mkdtempSync(join(tmpdir(), "podspawn-units-"));
    try {
      const layout = layoutFor("podspawn");
      // The units' programs must exist for verify; stand-ins in the temp dir, at the same names.
      const bin = join(dir, "bin");
      mkdirSync(bin);
      const units = renderNodeUnits({ instance: "podspawn", nodeScript: join(bin, "podspawn-node"), firewallScript: join(bin, "podspawn-block-metadata"), syncIntervalSeconds: 300, agentPollSeconds: 300, blockMetadata: true });
      units["podspawnd.service"] = renderSystemdUnit(layout).replace(`ExecStart=${layout.command}`, `ExecStart=${join(bin, "podspawn")}`);
      for (const exe of ["podspawn-node", "podspawn-block-metadata", "podspawn"]) writeFileSync(join(bin, exe), "#!/bin/sh\n", { mode: 0o755 });
      for (const [name, text] of Object.entries(units)) writeFileSync(join(dir, name), text);
      const names = Object.keys(units).sort();
      assert.deepEqual(names, ["podspawn-agent-update.service", "podspawn-agent-update.timer", "podspawn-block-metadata.service", "podspawn-sync.service", "podspawn-sync.timer", "podspawnd.service"]);
      const r = spawnSync("systemd-analyze", ["verify", "--man=no", ...names.map((n) => join(dir, n))], { encoding: "utf8" });
      // Without a running systemd, verify cannot check the dependencies outside these files
      // (docker.service, network-online.target); only such lines may appear.
      const problems = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() !== "" && !/(docker\.service|network-online\.target|timers\.target|multi-user\.target).*(not found|No such file)|Failed to prepare filename|System has not been booted with systemd/.test(l));
      assert.deepEqual(problems, [], `systemd-analyze verify exit ${r.status}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("run the node script's subcommands and leave out the firewall unit when not blocking", () => {
    const units = renderNodeUnits({ instance: "podspawn-x", nodeScript: "/usr/local/sbin/podspawn-x-node", firewallScript: "/f", syncIntervalSeconds: 60, agentPollSeconds: 600, blockMetadata: false });
    assert.match(units["podspawn-x-sync.service"] ?? "", /^ExecStart=\/usr\/local\/sbin\/podspawn-x-node sync-users$/m);
    assert.match(units["podspawn-x-agent-update.service"] ?? "", /^ExecStart=\/usr\/local\/sbin\/podspawn-x-node update-agent$/m);
    assert.match(units["podspawn-x-agent-update.timer"] ?? "", /^OnUnitActiveSec=600$/m);
    assert.equal(units["podspawn-x-block-metadata.service"], undefined);
  });
});

describe("user data", () => {
  it("is gzip of the script, within 16 KB, and deterministic", () => {
    const script = renderBootstrapScript(cloud);
    const ud = renderUserData(script);
    assert.ok(ud.gzipBytes <= USER_DATA_LIMIT_BYTES, `${ud.gzipBytes} bytes`);
    assert.equal(gunzipSync(Buffer.from(ud.base64, "base64")).toString("utf8"), script);
    assert.equal(renderUserData(script).base64, ud.base64);
  });

  it("fails synth when the script would exceed the EC2 limit", () => {
    const big = Array.from({ length: 40_000 }, (_, i) => `# ${sha256Hex(String(i))}`).join("\n");
    assert.throws(() => renderUserData(big), /over the EC2 limit/);
  });
});

describe("agent artifact packing", () => {
  const files = new Map([["podspawn.cjs", Buffer.from("a")], ["spawn.cjs", Buffer.from("b")], ["auth-keys.cjs", Buffer.from("c")]]);

  it("adds the image kit with its modes when given, still deterministic", async () => {
    const kit = new Map([["build-image.mjs", { data: Buffer.from("x"), executable: false }], ["podfiles/default/Dockerfile", { data: Buffer.from("FROM x"), executable: false }], ["podfiles/default/hook.sh", { data: Buffer.from("#!/bin/sh"), executable: true }]]);
    const tgz = await packAgentBundle(files, kit);
    assert.equal(sha256Hex(await packAgentBundle(files, kit)), sha256Hex(tgz));
    const listing = execFileSync("tar", ["-tvz"], { input: tgz }).toString();
    assert.match(listing, /^-rwxr-xr-x .* podfiles\/default\/hook\.sh$/m);
    assert.match(listing, /^-rw-r--r-- .* podfiles\/default\/Dockerfile$/m);
  });

  it("holds exactly the three bundles and hashes the same every time", async () => {
    const tgz = await packAgentBundle(files);
    assert.equal(sha256Hex(await packAgentBundle(files)), sha256Hex(tgz));
    const out = await readTarFiles(gunzipSync(tgz));
    assert.deepEqual([...out.keys()].sort(), ["auth-keys.cjs", "podspawn.cjs", "spawn.cjs"]);
    assert.equal(out.get("spawn.cjs")?.toString(), "b");
  });

  it("is readable by the system tar the bootstrap uses", async () => {
    const listing = execFileSync("tar", ["-tz"], { input: await packAgentBundle(files) }).toString().trim().split("\n").sort();
    assert.deepEqual(listing, ["auth-keys.cjs", "podspawn.cjs", "spawn.cjs"]);
  });

  it("refuses a bundle with a file missing", async () => {
    const partial = new Map(files);
    partial.delete("auth-keys.cjs");
    await assert.rejects(() => packAgentBundle(partial), /missing auth-keys\.cjs/);
  });
});

describe("bootstrap script: the node config's accepted runc advisories", () => {
  it("writes none by default, and renders nothing of them: user-data of a fleet without them is unchanged", () => {
    const s = renderBootstrapScript(cloud);
    assert.doesNotMatch(s, /ACCEPT_RUNC_ADVISORIES|accept_runc_advisories/);
  });

  it("writes the ones given into the config.yaml the bootstrap makes, and the node's own parser reads them", () => {
    const s = renderBootstrapScript({ ...cloud, acceptRuncAdvisories: ["CVE-2024-45310", "CVE-2025-31133"] });
    assert.match(s, /^ACCEPT_RUNC_ADVISORIES='CVE-2024-45310, CVE-2025-31133'$/m);
    // The config-writing lines of the rendered script, run by bash, give a file the agent's parser accepts.
    const writes = fn(s, "ensure_image").split("\n").filter((l) => /"\$config"$/.test(l) && /printf/.test(l));
    assert.equal(writes.length, 2, "the image line and the engine line");
    const vars = s.split("\n").filter((l) => /^(DEFAULT_IMAGE|ACCEPT_RUNC_ADVISORIES)=/.test(l));
    const dir = mkdtempSync(join(tmpdir(), "bootstrap-config-"));
    try {
      execFileSync("bash", ["-euc", [...vars, `config=${join(dir, "config.yaml")}`, ...writes].join("\n")]);
      const text = readFileSync(join(dir, "config.yaml"), "utf8");
      assert.deepEqual(parseNodeConfigYaml(text, "config.yaml").acceptRuncAdvisories, ["CVE-2024-45310", "CVE-2025-31133"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an id it does not know, or one listed twice, naming the entry", () => {
    assert.throws(() => renderBootstrapScript({ ...cloud, acceptRuncAdvisories: ["CVE-2025-3113"] }), /acceptRuncAdvisories\[0\]: "CVE-2025-3113" is not a known runc advisory \(allowed: CVE-2019-5736, .*CVE-2025-52881\)/);
    assert.throws(() => renderBootstrapScript({ ...cloud, acceptRuncAdvisories: ["CVE-2025-31133", "CVE-2025-31133"] }), /acceptRuncAdvisories\[1\]: CVE-2025-31133 is listed twice/);
  });
});

describe("bootstrap script with a projects pointer", () => {
  it("is valid bash", () => {
    execFileSync("bash", ["-n"], { input: renderBootstrapScript(withProjects) });
  });

  it("without one, says nothing of projects: the users-only sync, one podspawn sync --file", () => {
    const s = renderBootstrapScript(cloud);
    assert.doesNotMatch(s, /projects/i);
    assert.match(fn(s, "cmd_sync_users"), /"\$COMMAND" sync --file "\$tmp" "\$\{flags\[@\]\}" >&2 \|\|/);
  });

  it("names no bundle: the pointer is followed at run time, the bundle checked against its sha256 before it is unpacked", () => {
    const s = renderBootstrapScript(withProjects);
    assert.match(s, /^PROJECTS_POINTER_URL='s3:\/\/acme-artifacts\/config\/projects\.sha256'$/m);
    assert.match(s, /^PROJECTS_BASE_URL='s3:\/\/acme-artifacts\/config\/projects-'$/m);
    assert.doesNotMatch(s, /[0-9a-f]{64}/);
    const stage = fn(s, "stage_projects");
    const order = ['read_pointer "$PROJECTS_POINTER_URL"', 'fetch_pinned_or_fail "$PROJECTS_BASE_URL$PROJECTS_SHA.tar" "$PROJECTS_SHA"', 'mktemp -d', "check_projects_bundle", "tar -xf"].map((w) => stage.indexOf(w));
    assert.ok(order.every((i) => i >= 0), `all of them: ${order.join(", ")}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, "pointer, verified fetch, fresh dir, member check, unpack");
    assert.match(stage, /tar -xf "\$tar" -C "\$PROJECTS_STAGED" --no-same-owner --no-same-permissions/);
  });

  it("converges users and projects in one podspawn sync, and puts the previous projects back when it refuses", () => {
    const s = renderBootstrapScript(withProjects);
    const both = fn(s, "sync_with_projects");
    assert.equal(both.match(/"\$COMMAND" sync /g)?.length, 1, "one run");
    assert.match(both, /"\$COMMAND" sync --file "\$users" --projects "\$WORK\/projects\/projects\.yaml" --podfiles "\$WORK\/projects" "\$@"/);
    const order = ['mv "$WORK/projects" "$WORK/projects.prev"', 'mv "$PROJECTS_STAGED" "$WORK/projects"', '"$COMMAND" sync', 'echo "$PROJECTS_SHA" >"$WORK/projects.current"', 'mv "$WORK/projects.prev" "$WORK/projects"'].map((w) => both.indexOf(w));
    assert.ok(order.every((i) => i >= 0), `all of them: ${order.join(", ")}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order);
  });

  it("still syncs the users file alone when the projects half fails, and fails the run", () => {
    const sync = fn(renderBootstrapScript(withProjects), "cmd_sync_users");
    const order = ["stage_projects || staged=0", 'read_pointer "$USERS_POINTER_URL"', 'sync_with_projects "$tmp" "${flags[@]}"', '"$COMMAND" sync --file "$tmp" "${flags[@]}" >&2', 'die "users file $POINTED applied; projects bundle'].map((w) => sync.indexOf(w));
    assert.ok(order.every((i) => i >= 0), `all of them: ${order.join(", ")}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, "stage, users, both, else users alone, then fail");
  });

  it("refuses half a projects source, or a base the sha256 cannot be appended to", () => {
    assert.throws(() => renderBootstrapScript({ ...cloud, projectsPointerUrl: "s3://acme-artifacts/config/projects.sha256" }), /projectsBaseUrl: is missing \(allowed: projectsPointerUrl and projectsBaseUrl together, or neither\)/);
    assert.throws(() => renderBootstrapScript({ ...cloud, projectsBaseUrl: "s3://acme-artifacts/config/projects-" }), /projectsPointerUrl: is missing/);
    assert.throws(() => renderBootstrapScript({ ...withProjects, projectsBaseUrl: "s3://acme-artifacts/config/projects" }), /projectsBaseUrl: .* does not end in '\/' or '-'/);
    assert.throws(() => renderBootstrapScript({ ...withProjects, projectsPointerUrl: "s3://b/k';reboot;'" }), InputError);
  });

  it("keeps user-data under 16 KB", () => {
    assert.ok(renderUserData(renderBootstrapScript(withProjects)).gzipBytes <= USER_DATA_LIMIT_BYTES);
  });
});

describe("check_projects_bundle (the rendered function, run by bash on real archives)", () => {
  const dir = mkdtempSync(join(tmpdir(), "podspawn-bundle-check-"));
  const check = fn(renderBootstrapScript(withProjects), "check_projects_bundle");
  let n = 0;
  after(() => rmSync(dir, { recursive: true, force: true }));

  function run(tar: Buffer, limits: { bytes?: number; files?: number } = {}): { status: number | null; stderr: string } {
    const file = join(dir, `b${n++}.tar`);
    writeFileSync(file, tar);
    const harness = [
      "set -euo pipefail",
      "log() { printf '%s\\n' \"$*\" >&2; }",
      `PROJECTS_MAX_BYTES=${limits.bytes ?? PROJECTS_BUNDLE_MAX_BYTES}`,
      `PROJECTS_MAX_FILES=${limits.files ?? PROJECTS_BUNDLE_MAX_FILES}`,
      check,
      'check_projects_bundle "$1"',
    ].join("\n");
    const r = spawnSync("bash", ["-c", harness, "bash", file], { encoding: "utf8" });
    return { status: r.status, stderr: r.stderr };
  }

  const file = (path: string, data = "x\n"): TarEntry => ({ path, type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from(data) });
  const good = (): TarEntry[] => [file("projects.yaml", "version: 1\n"), file("podfiles/web.yaml"), file(".podspawn/podfile.yaml")];

  it("accepts the bundle synth packs", async () => {
    const bundle = await packProjectsBundle(new Map([["projects.yaml", Buffer.from("version: 1\n")], ["podfiles/web.yaml", Buffer.from("name: web\n")]]));
    const r = run(bundle);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(run(await packTar(good())).status, 0);
  });

  // Entries tar-stream writes as asked; packTar (our own) only makes files and directories.
  async function raw(entries: { name: string; type?: string; linkname?: string; data?: string }[]): Promise<Buffer> {
    const { default: tar } = await import("tar-stream");
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    const done = (async () => {
      for await (const c of pack) chunks.push(c as Buffer);
    })();
    for (const e of entries) {
      const header = { name: e.name, mode: 0o644, type: (e.type ?? "file") as "file", ...(e.linkname ? { linkname: e.linkname } : {}), ...(e.type === "character-device" ? { devmajor: 1, devminor: 3 } : {}) };
      if (e.data !== undefined) pack.entry(header, e.data);
      else pack.entry(header);
    }
    pack.finalize();
    await done;
    return Buffer.concat(chunks);
  }

  const cases: [string, { name: string; type?: string; linkname?: string; data?: string }, RegExp][] = [
    ["a symlink", { name: "podfiles/web.yaml", type: "symlink", linkname: "/etc/shadow" }, /refused member: l/],
    ["a hard link", { name: "podfiles/web.yaml", type: "link", linkname: "projects.yaml" }, /refused member: h/],
    ["a character device", { name: "null", type: "character-device" }, /refused member: c/],
    ["a directory entry", { name: "podfiles/", type: "directory" }, /refused member: d/],
    ["an absolute path", { name: "/etc/cron.d/x", data: "x" }, /refused member: -.* \/etc\/cron\.d\/x$/m],
    ["a leading ..", { name: "../x.yaml", data: "x" }, /refused member: -.* \.\.\/x\.yaml$/m],
    ["a .. inside", { name: "podfiles/../../x.yaml", data: "x" }, /refused member: /],
    ["a name with a space", { name: "pod files/x.yaml", data: "x" }, /refused member: /],
    ["a name with a newline", { name: "x\ny.yaml", data: "x" }, /refused member: /],
  ];
  for (const [what, entry, message] of cases) {
    it(`refuses a bundle with ${what}, whatever else it holds`, async () => {
      const r = run(await raw([{ name: "projects.yaml", data: "version: 1\n" }, entry]));
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, message);
    });
  }

  it("refuses a bundle over the size bound before reading it, and files adding up to more than it", async () => {
    const tar = await packTar(good());
    const small = run(tar, { bytes: tar.length - 1 });
    assert.equal(small.status, 1);
    assert.match(small.stderr, new RegExp(`projects bundle is ${tar.length} bytes, over the limit of ${tar.length - 1}`));
    // A sparse member: 10 KB of archive that unpacks to 50 MB. The listing's sizes count.
    const src = mkdtempSync(join(dir, "sparse-"));
    writeFileSync(join(src, "projects.yaml"), "version: 1\n");
    writeFileSync(join(src, "big.yaml"), "");
    truncateSync(join(src, "big.yaml"), 50 * 1024 * 1024);
    const sparse = execFileSync("tar", ["--sparse", "--format=gnu", "-C", src, "-cf", "-", "projects.yaml", "big.yaml"]);
    assert.ok(sparse.length < 64 * 1024, `${sparse.length} bytes of archive`);
    const r = run(sparse);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`2 files of ${50 * 1024 * 1024 + 11} bytes, over the limit of ${PROJECTS_BUNDLE_MAX_FILES} files or ${PROJECTS_BUNDLE_MAX_BYTES} bytes`));
  });

  it("refuses more files than the bound, and what is not a tar at all", async () => {
    const r = run(await packTar(good()), { files: 2 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /3 files of \d+ bytes, over the limit of 2 files/);
    const junk = run(Buffer.from("not a tar archive, just text\n".repeat(40)));
    assert.equal(junk.status, 1);
    assert.match(junk.stderr, /projects bundle is not a tar archive/);
  });
});

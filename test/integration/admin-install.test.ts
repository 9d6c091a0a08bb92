import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rootOwnedPathProblems } from "../../agent/src/adapters/fs/atomic-file.js";
import { makeInstallCommand } from "../../agent/src/cli/commands/node/install.js";
import { hostAccounts } from "../../agent/src/adapters/accounts/host-accounts.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { cleanupInstance, cli, makeBundleDir, requireRoot } from "./admin-helpers.js";
import { PassThrough } from "node:stream";

const layout = layoutFor("podspawn-adm1");
let bundleDir = "";

function mode(path: string): string {
  const st = statSync(path);
  return `${(st.mode & 0o7777).toString(8).padStart(4, "0")} ${st.uid}:${st.gid}`;
}

describe("podspawn install (real system, as root)", () => {
  before(async () => {
    requireRoot();
    cleanupInstance(layout, []);
    bundleDir = await makeBundleDir();
  });
  after(() => {
    cleanupInstance(layout, []);
    rmSync(bundleDir, { recursive: true, force: true });
  });

  it("installs bundles, wrapper, accounts and dirs with the right owners and modes", async () => {
    const r = await cli(layout, "install", "--instance", "podspawn-adm1", "--bundle-dir", bundleDir, "--node", "/usr/bin/node");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /created \/usr\/local\/lib\/podspawn-adm1\/bin\/podspawn/);
    for (const f of ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"]) {
      assert.equal(mode(join(layout.libDir, f)), "0644 0:0");
      assert.deepEqual(readFileSync(join(layout.libDir, f)), readFileSync(join(bundleDir, f)));
    }
    assert.equal(mode(layout.command), "0755 0:0");
    assert.equal(mode(layout.libDir), "0755 0:0");
    const keysGid = Number(execFileSync("getent", ["group", "podspawn-keys"], { encoding: "utf8" }).split(":")[2]);
    assert.equal(mode(layout.etcDir), "0755 0:0");
    assert.equal(mode(layout.usersDir), `0750 0:${keysGid}`);
    assert.equal(mode(layout.authorizedKeysDir), "0755 0:0");
    assert.equal(mode(layout.stateDir), "0700 0:0");
    assert.equal(mode(layout.runDir), "0755 0:0");
    assert.equal(mode(`${layout.runDir}/u`), "0755 0:0");
    const keysUser = execFileSync("getent", ["passwd", "podspawn-keys"], { encoding: "utf8" }).trim().split(":");
    assert.equal(keysUser[6], "/usr/sbin/nologin");
    assert.equal(keysUser[3], String(keysGid));
    assert.ok(execFileSync("getent", ["group", "podspawn-users"], { encoding: "utf8" }).startsWith("podspawn-users:"));
    assert.deepEqual(await rootOwnedPathProblems(layout.command), []);
    assert.match(r.stdout, /systemd is not running here: no unit written/);
  });

  it("the installed wrapper dispatches with the pinned instance and absolute node", () => {
    const env = { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" };
    const spawnOut = execFileSync(layout.command, ["spawn", "--user", "x"], { encoding: "utf8", env });
    assert.deepEqual(JSON.parse(spawnOut.replace(/^SPAWN /, "")).argv, ["--user", "x"]);
    assert.match(spawnOut, /"instance":"podspawn-adm1"/);
    assert.match(execFileSync(layout.command, ["list-users"], { encoding: "utf8", env }), /^PODSPAWN .*"argv":\["list-users"\]/);
    // The real auth-keys bundle: an unknown user prints nothing and exits 0.
    assert.equal(execFileSync(layout.command, ["auth-keys", "nobody-here"], { encoding: "utf8", env }), "");
  });

  it("a second run changes nothing and says so", async () => {
    const before = statSync(layout.command).mtimeMs;
    const r = await cli(layout, "install", "--instance", "podspawn-adm1", "--bundle-dir", bundleDir, "--node", "/usr/bin/node");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nothing to change: podspawn-adm1 is installed/);
    assert.equal(statSync(layout.command).mtimeMs, before);
  });

  it("repairs a loosened mode on re-run", async () => {
    chmodSync(layout.stateDir, 0o755);
    const r = await cli(layout, "install", "--instance", "podspawn-adm1", "--bundle-dir", bundleDir, "--node", "/usr/bin/node");
    assert.match(r.stdout, /updated \/var\/lib\/podspawn-adm1/);
    assert.equal(mode(layout.stateDir), "0700 0:0");
  });

  it("refuses a bundle dir that lacks a bundle, before changing anything", async () => {
    const empty = mkdtempSync(join(tmpdir(), "pst-empty-"));
    try {
      const r = await cli(layout, "install", "--instance", "podspawn-adm1", "--bundle-dir", empty);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--bundle-dir: cannot read .*podspawn\.cjs/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("refuses a node binary that a non-root account could replace (file or a dir on its path, through a symlink), before changing anything", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pst-node-"));
    chmodSync(dir, 0o755);
    try {
      mkdirSync(join(dir, "bin"), { mode: 0o755 });
      const node = join(dir, "bin", "node");
      execFileSync("cp", [process.execPath, node]);
      execFileSync("chown", ["nobody", node]);
      const link = join(dir, "node-link");
      execFileSync("ln", ["-s", node, link]);
      for (const candidate of [node, link]) {
        const r = await cli(layout, "install", "--instance", "podspawn-adm1", "--bundle-dir", bundleDir, "--node", candidate);
        assert.equal(r.code, 2, r.stderr);
        assert.ok(r.stderr.includes(`--node: ${candidate} is not safe to run as root: `), r.stderr);
        assert.ok(r.stderr.includes(`${node} is owned by uid 65534, not root`), r.stderr);
        assert.ok(r.stderr.includes("/tmp is group- or world-writable"), r.stderr);
        assert.ok(!readFileSync(layout.command, "utf8").includes(candidate), "the installed wrapper is unchanged");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes the systemd unit when systemd is present (unit dir injected)", async () => {
    const unitDir = mkdtempSync(join(tmpdir(), "pst-units-"));
    const calls: string[] = [];
    try {
      const cmd = makeInstallCommand(() => ({
        accounts: hostAccounts(),
        run: async (file, args) => (calls.push([file, ...args].join(" ")), { code: 0, signal: null, timedOut: false, stdout: "", stderr: "", truncated: false }),
        systemdUnitDir: unitDir,
      }));
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on("data", (c: Buffer) => chunks.push(c));
      const code = await cmd.run(["--bundle-dir", bundleDir, "--node", "/usr/bin/node"], { stdout: out, stderr: new PassThrough(), env: {}, layout });
      assert.equal(code, 0);
      assert.match(readFileSync(join(unitDir, "podspawn-adm1d.service"), "utf8"), /^ExecStart=\/usr\/local\/lib\/podspawn-adm1\/bin\/podspawn daemon$/m);
      assert.deepEqual(calls, ["systemctl daemon-reload", "systemctl enable podspawn-adm1d.service", "systemctl restart podspawn-adm1d.service"]);
      assert.match(Buffer.concat(chunks).toString(), /systemd unit podspawn-adm1d.service written and enabled/);
    } finally {
      rmSync(unitDir, { recursive: true, force: true });
    }
  });
});

describe("rootOwnedPathProblems (real filesystem)", () => {
  it("names a world-writable parent and a non-root owner, as sshd would refuse them", async () => {
    requireRoot();
    const dir = mkdtempSync(join(tmpdir(), "pst-unsafe-"));
    try {
      mkdirSync(join(dir, "lib"), { mode: 0o755 });
      execFileSync("chown", ["nobody", join(dir, "lib")]);
      const problems = await rootOwnedPathProblems(join(dir, "lib"));
      assert.ok(problems.some((p) => p.startsWith("/tmp is group- or world-writable")), problems.join("\n"));
      assert.ok(problems.some((p) => p === `${join(dir, "lib")} is owned by uid 65534, not root`), problems.join("\n"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { cleanupInstance, cli, makeBundleDir, makeSshdSandbox, requireRoot, sshKeygen, type SshdSandbox } from "./admin-helpers.js";

/**
 * The whole authentication path for real: install, server-setup, add-user, then `ssh` through a
 * private sshd on loopback, in both auth modes. The forced command is a stand-in spawn that prints
 * how it was called, so this proves sshd ran OUR command for the right user and nothing else.
 */
const layout = layoutFor("podspawn-adm3");
const PORT = 2297;
let sb: SshdSandbox;
let bundleDir = "";
let keyDir = "";

function sshLogin(user: string, key: string, command = "echo hi"): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    "ssh",
    [
      "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
      "-o", `UserKnownHostsFile=${sb.knownHosts}`, "-o", "KexAlgorithms=curve25519-sha256", "-o", "ConnectTimeout=5",
      "-p", String(PORT), `${user}@127.0.0.1`, command,
    ],
    { encoding: "utf8", timeout: 20_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function waitForPort(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect(PORT, "127.0.0.1");
      s.once("data", () => (s.destroy(), res(true)));
      s.once("error", () => res(false));
    });
    if (ok) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`sshd did not come up on ${PORT}: ${existsSync(sb.log) ? readFileSync(sb.log, "utf8") : "(no log)"}`);
}

function spawnReport(stdout: string): { argv: string[]; instance: string; cmd: string; user: string } {
  const line = stdout.split("\n").find((l) => l.startsWith("SPAWN "));
  assert.ok(line, `no SPAWN line in ${JSON.stringify(stdout)}`);
  return JSON.parse(line.slice(6)) as { argv: string[]; instance: string; cmd: string; user: string };
}

describe("login through native sshd (real sshd on loopback, as root)", () => {
  before(async () => {
    requireRoot();
    cleanupInstance(layout, ["pst-l1", "pst-l2"]);
    bundleDir = await makeBundleDir();
    sb = makeSshdSandbox(PORT);
    keyDir = sb.dir;
    sshKeygen(join(keyDir, "l1"));
    sshKeygen(join(keyDir, "l2"));
    sshKeygen(join(keyDir, "stranger"));
    assert.equal((await cli(layout, "install", "--bundle-dir", bundleDir, "--node", "/usr/bin/node")).code, 0);
    const setup = await cli(layout, "server-setup", "--sshd-config", sb.config, "--sshd-pid-file", sb.pidFile);
    assert.equal(setup.code, 0, setup.stderr);
    assert.equal((await cli(layout, "add-user", "pst-l1", "--key-file", join(keyDir, "l1.pub"))).code, 0);
    assert.equal((await cli(layout, "add-user", "pst-l2", "--key-file", join(keyDir, "l2.pub"))).code, 0);
    execFileSync("mkdir", ["-p", "/run/sshd"]);
    execFileSync("/usr/sbin/sshd", ["-f", sb.config, "-E", sb.log]);
    await waitForPort();
  });
  after(() => {
    if (existsSync(sb.pidFile)) {
      const pid = Number(readFileSync(sb.pidFile, "utf8").trim());
      if (pid > 1) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
    }
    cleanupInstance(layout, ["pst-l1", "pst-l2"]);
    rmSync(bundleDir, { recursive: true, force: true });
    rmSync(sb.dir, { recursive: true, force: true });
  });

  it("sshd applies our Match block to pod users (sshd -T -C)", () => {
    const t = execFileSync("/usr/sbin/sshd", ["-T", "-f", sb.config, "-C", "user=pst-l1,host=localhost,addr=127.0.0.1"], { encoding: "utf8" });
    assert.match(t, /^authorizedkeysfile \/etc\/podspawn-adm3\/authorized_keys\/%u$/m);
    // Every forwarding off by name, the agent alone on (DisableForwarding would override it).
    for (const line of ["disableforwarding no", "allowagentforwarding yes", "allowtcpforwarding no", "allowstreamlocalforwarding no", "x11forwarding no", "permittunnel no", "permitopen none", "permitlisten none", "gatewayports no"]) {
      assert.match(t, new RegExp(`^${line}$`, "m"));
    }
    assert.match(t, /^passwordauthentication no$/m);
    assert.match(t, /^permituserrc no$/m);
  });

  it("file mode: the key logs in and runs only our forced spawn, as the user, with the command as SSH_ORIGINAL_COMMAND", () => {
    // Prove no auth-keys is involved: hide the registry; sshd reads the rendered file alone.
    const reg = join(layout.usersDir, "pst-l1.keys");
    renameSync(reg, `${reg}.hidden`);
    try {
      const r = sshLogin("pst-l1", join(keyDir, "l1"), "echo hi; id");
      assert.equal(r.status, 0, r.stderr + readFileSync(sb.log, "utf8").slice(-2000));
      // No argv: the drop-in's ForceCommand (`spawn`, the second layer) wins over the key line's
      // command, so spawn takes the user from the account running it.
      assert.deepEqual(spawnReport(r.stdout), { argv: [], instance: "podspawn-adm3", cmd: "echo hi; id", user: "pst-l1" });
      assert.doesNotMatch(r.stdout, /^hi$/m);
    } finally {
      renameSync(`${reg}.hidden`, reg);
    }
  });

  it("file mode: another user's key and an unknown key are refused", () => {
    assert.notEqual(sshLogin("pst-l1", join(keyDir, "l2")).status, 0);
    assert.notEqual(sshLogin("pst-l1", join(keyDir, "stranger")).status, 0);
  });

  it("command mode (after SIGHUP reload): auth-keys answers for sshd, the rendered file is not used", async () => {
    const setup = await cli(layout, "server-setup", "--sshd-config", sb.config, "--sshd-pid-file", sb.pidFile, "--auth", "command");
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stdout, /reloaded sshd \(SIGHUP to pid \d+\)/);
    await new Promise((res) => setTimeout(res, 300));
    await waitForPort();
    const rendered = join(layout.authorizedKeysDir, "pst-l2");
    renameSync(rendered, `${rendered}.hidden`);
    try {
      const r = sshLogin("pst-l2", join(keyDir, "l2"), "uptime");
      assert.equal(r.status, 0, r.stderr + readFileSync(sb.log, "utf8").slice(-2000));
      assert.deepEqual(spawnReport(r.stdout), { argv: [], instance: "podspawn-adm3", cmd: "uptime", user: "pst-l2" });
      assert.notEqual(sshLogin("pst-l2", join(keyDir, "l1")).status, 0);
    } finally {
      renameSync(`${rendered}.hidden`, rendered);
    }
  });

  it("forwarding is refused for pod users", () => {
    const r = spawnSync(
      "ssh",
      ["-F", "/dev/null", "-i", join(keyDir, "l2"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${sb.knownHosts}`,
        // -W opens a direct-tcpip channel at once: the same request -L makes per connection.
        "-o", "KexAlgorithms=curve25519-sha256", "-W", `127.0.0.1:${PORT}`, "-p", String(PORT), "pst-l2@127.0.0.1"],
      { encoding: "utf8", timeout: 20_000 },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /administratively prohibited/);
  });

  it("after remove-user the user can no longer log in", async () => {
    const r = await cli(layout, "remove-user", "pst-l2");
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual(sshLogin("pst-l2", join(keyDir, "l2")).status, 0);
  });
});

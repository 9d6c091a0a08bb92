import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { renderSshdDropin } from "../../agent/src/core/host/sshd-dropin.js";
import { cli, makeSshdSandbox, requireRoot, type SshdSandbox } from "./admin-helpers.js";

const layout = layoutFor("podspawn-adm4");
let sb: SshdSandbox;

function setup(...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cli(layout, "server-setup", "--sshd-config", sb.config, "--sshd-pid-file", sb.pidFile, ...extra);
}

describe("podspawn server-setup (real sshd -t, private config)", () => {
  before(() => {
    requireRoot();
    sb = makeSshdSandbox(2299);
  });
  after(() => rmSync(sb.dir, { recursive: true, force: true }));

  it("--dry-run prints a diff of the include, sftp and drop-in, and changes nothing", async () => {
    const original = readFileSync(sb.config);
    const r = await setup("--dry-run");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^\\+Include ${sb.dir}/sshd_config\\.d/\\*\\.conf$`, "m"));
    assert.match(r.stdout, /^\+Subsystem sftp internal-sftp$/m);
    assert.match(r.stdout, /^--- \/dev\/null\n\+\+\+ b.*50-podspawn-adm4\.conf$/m);
    assert.match(r.stdout, /^\+Match Group podspawn-users$/m);
    assert.deepEqual(readFileSync(sb.config), original);
    assert.ok(!existsSync(join(sb.dir, "sshd_config.d")));
  });

  it("writes the drop-in, includes it before any Match, adds sftp, and passes sshd -t", async () => {
    writeFileSync(sb.config, readFileSync(sb.config, "utf8") + "Match User nobody\n    X11Forwarding yes\n");
    const r = await setup();
    assert.equal(r.code, 0, r.stderr);
    const main = readFileSync(sb.config, "utf8").split("\n");
    const inc = main.indexOf(`Include ${sb.dir}/sshd_config.d/*.conf`);
    assert.ok(inc >= 0 && inc < main.indexOf("Match User nobody"));
    assert.ok(main.indexOf("Subsystem sftp internal-sftp") < main.indexOf("Match User nobody"));
    const dropin = join(sb.dir, "sshd_config.d", "50-podspawn-adm4.conf");
    assert.equal(readFileSync(dropin, "utf8"), renderSshdDropin(layout, "file"));
    assert.equal(statSync(dropin).mode & 0o777, 0o644);
    execFileSync("/usr/sbin/sshd", ["-t", "-f", sb.config]);
    assert.match(r.stdout, /sshd is not running/);
  });

  it("a second run changes nothing and says so", async () => {
    const before = readFileSync(sb.config);
    const r = await setup();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nothing to change/);
    assert.deepEqual(readFileSync(sb.config), before);
  });

  it("switching to --auth command rewrites only the drop-in", async () => {
    const r = await setup("--auth", "command");
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(sb.dir, "sshd_config.d", "50-podspawn-adm4.conf"), "utf8"), /AuthorizedKeysCommand \/usr\/local\/lib\/podspawn-adm4\/bin\/podspawn auth-keys %u %t %k/);
    assert.doesNotMatch(r.stdout, /sshd_config: added/);
  });

  it("refuses another AuthorizedKeysCommand, naming the file and line, and changes nothing", async () => {
    const other = join(sb.dir, "sshd_config.d", "10-ldap.conf");
    writeFileSync(other, "# ldap\nAuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys\n");
    const before = readFileSync(join(sb.dir, "sshd_config.d", "50-podspawn-adm4.conf"));
    try {
      const r = await setup("--auth", "file");
      assert.equal(r.code, 1);
      assert.ok(r.stderr.includes(`${other}:2: AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys`), r.stderr);
      assert.deepEqual(readFileSync(join(sb.dir, "sshd_config.d", "50-podspawn-adm4.conf")), before);
    } finally {
      rmSync(other);
    }
  });

  it("restores every file byte for byte when sshd -t rejects the result", async () => {
    const fresh = makeSshdSandbox(2298);
    try {
      // A broken drop-in nobody includes yet: harmless until our Include pulls it in.
      mkdirSync(join(fresh.dir, "sshd_config.d"));
      writeFileSync(join(fresh.dir, "sshd_config.d", "20-broken.conf"), "NoSuchKeyword yes\n");
      const original = readFileSync(fresh.config);
      const originalMode = statSync(fresh.config).mode;
      const r = await cli(layout, "server-setup", "--sshd-config", fresh.config);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /sshd -t -f .* rejected the new configuration; restored the previous files: .*NoSuchKeyword/);
      assert.deepEqual(readFileSync(fresh.config), original);
      assert.equal(statSync(fresh.config).mode, originalMode);
      assert.ok(!existsSync(join(fresh.dir, "sshd_config.d", "50-podspawn-adm4.conf")));
    } finally {
      rmSync(fresh.dir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown --auth mode", async () => {
    const r = await setup("--auth", "ldap");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--auth: "ldap" is not a valid value \(allowed: file, command\)/);
  });
});

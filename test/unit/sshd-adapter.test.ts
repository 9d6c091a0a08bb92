import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { listeningSocketInodes, reloadSshd, testSshdConfig, type ReloadDeps } from "../../agent/src/adapters/sshd/sshd.js";
import { scriptedRunner } from "./helpers/scripted-runner.js";

describe("testSshdConfig", () => {
  it("runs sshd -t -f CONFIG with a deadline and reports its first lines", async () => {
    const s = scriptedRunner([() => ({ code: 255, stderr: "line 3: Bad option\nline 4: worse\n" })]);
    const check = await testSshdConfig("/etc/ssh/sshd_config", s.run);
    assert.deepEqual(s.calls, ["/usr/sbin/sshd -t -f /etc/ssh/sshd_config"]);
    assert.ok((s.options[0]?.timeoutMs ?? 0) > 0, "every call has a deadline");
    assert.deepEqual(check, { ok: false, message: "line 3: Bad option; line 4: worse" });
  });

  it("says that sshd -t timed out rather than passing", async () => {
    const s = scriptedRunner([() => ({ code: null, signal: "SIGKILL", timedOut: true })]);
    const check = await testSshdConfig("/c", s.run);
    assert.equal(check.ok, false);
    assert.match(check.message, /timed out after \d+ ms/);
  });
});

describe("reloadSshd", () => {
  const deps = (over: Partial<ReloadDeps>): ReloadDeps & { signals: string[] } => {
    const signals: string[] = [];
    return { run: scriptedRunner([]).run, kill: (pid, sig) => void signals.push(`${pid} ${sig}`), systemd: false, readText: async () => "4242\n", listening: async () => new Set(), sleep: async () => undefined, signals, ...over };
  };

  it("returns only once sshd listens on new sockets after the SIGHUP (the new config serves)", async () => {
    // Before the signal it holds socket 7; after it, the old one for two polls, nothing for one
    // (re-exec), then socket 9: the reload is done at the fourth look.
    const looks = [new Set(["7"]), new Set(["7"]), new Set(["7"]), new Set<string>(), new Set(["9"])];
    let n = 0;
    const d = deps({ listening: async () => looks[Math.min(n++, looks.length - 1)]! });
    assert.equal(await reloadSshd("/run/x.pid", d), "reloaded sshd (SIGHUP to pid 4242)");
    assert.equal(n, 5, "looked until the new listener appeared");
    assert.deepEqual(d.signals, ["4242 0", "4242 SIGHUP"]);
  });

  it("says so when sshd does not listen again within its bound", async () => {
    let slept = 0;
    const d = deps({ listening: async () => new Set(["7"]), sleep: async (ms) => void (slept += ms) });
    assert.match(await reloadSshd("/run/x.pid", d), /did not listen again within 5 s/);
    assert.ok(slept >= 5000, `waited its bound (${slept} ms)`);
  });

  it("finds the listening TCP sockets of a process from /proc", async () => {
    const { mkdtemp, mkdir, symlink, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const proc = await mkdtemp(join(tmpdir(), "proc-"));
    await mkdir(join(proc, "42", "fd"), { recursive: true });
    await mkdir(join(proc, "net"));
    await symlink("socket:[111]", join(proc, "42", "fd", "3"));
    await symlink("socket:[222]", join(proc, "42", "fd", "4"));
    await symlink("/dev/null", join(proc, "42", "fd", "0"));
    const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    await writeFile(join(proc, "net", "tcp"), header + "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n   1: 0100007F:0016 0100007F:D000 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0\n   2: 0100007F:0017 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0\n");
    assert.deepEqual([...(await listeningSocketInodes(42, proc))], ["111"]);
  });

  it("sends SIGHUP to the pid in the pid file after checking it is alive", async () => {
    const d = deps({});
    assert.equal(await reloadSshd("/run/x.pid", d), "reloaded sshd (SIGHUP to pid 4242)");
    assert.deepEqual(d.signals, ["4242 0", "4242 SIGHUP"]);
  });

  it("under systemd tries ssh, then sshd", async () => {
    const s = scriptedRunner([(_f, args) => (args[1] === "ssh" ? { code: 5 } : undefined)]);
    assert.equal(await reloadSshd(undefined, deps({ systemd: true, run: s.run })), "reloaded sshd (systemctl reload sshd)");
    assert.deepEqual(s.calls, ["systemctl reload ssh", "systemctl reload sshd"]);
    assert.ok(s.options.every((o) => (o?.timeoutMs ?? 0) > 0));
  });

  it("is not an error when no sshd runs", async () => {
    const gone = deps({ readText: async () => Promise.reject(new Error("ENOENT")) });
    assert.match(await reloadSshd("/run/none.pid", gone), /sshd is not running \(no \/run\/none\.pid\)/);
    assert.deepEqual(gone.signals, []);
  });
});

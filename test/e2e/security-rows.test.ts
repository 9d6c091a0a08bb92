import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parsePublicKey } from "../../agent/src/core/users/keys.js";
import { runCommand, sshdRunning } from "../../scripts/local-node.js";
import { eventually, INSTANCE, layout, sshdOptions, startNode, type NodeHandle } from "./harness.js";
import { sshInBackground, within } from "./session-child.js";

/**
 * The rows of docs/security.md's case table that need a live node: several offered keys, the
 * forwarding kinds not covered in security.test.ts (-D, -w, -X), a removed user's multiplexed
 * connection, an sshd reload under live sessions, and a full disk where the registry lives.
 */
const USER = "e2e-rows";
const FIVE = "e2e-five";
const GONE = "e2e-rmuser";
const FULL = "e2e-full";
let node: NodeHandle;

const sshdConfig = `${sshdOptions.dir}/sshd_config`;
const sshdPidFile = `${sshdOptions.dir}/sshd.pid`;

before(async () => {
  // DEBUG3 for FIVE only: sshd then logs each AuthorizedKeysCommand it runs, with the key it asks about.
  node = await startNode([USER, FIVE, GONE], { sshdExtraConfig: [`Match User ${FIVE}`, "    LogLevel DEBUG3", "Match all"] });
});
after(async () => {
  await node?.stop();
});

/** What sshd logged since `offset` bytes. */
async function sshdLogSince(offset: number): Promise<string> {
  return (await readFile(node.sshdLog)).subarray(offset).toString("utf8");
}
async function sshdLogSize(): Promise<number> {
  return (await readFile(node.sshdLog)).length;
}

/** Every file under `dir` (but `skip`) with its mode, owner and a hash of its bytes. */
async function treeState(dir: string, skip: (path: string) => boolean = () => false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d).catch(() => [])).sort()) {
      const p = join(d, name);
      if (skip(p)) continue;
      const st = await lstat(p);
      if (st.isDirectory()) {
        out.set(p, `dir ${st.mode.toString(8)} ${st.uid}:${st.gid}`);
        await walk(p);
      } else {
        const hash = st.isFile() ? createHash("sha256").update(await readFile(p)).digest("hex") : "special";
        out.set(p, `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${hash}`);
      }
    }
  };
  await walk(dir);
  return out;
}

/** A loopback listener that counts who connects: a refused forward must leave it at zero. */
async function liveTcpTarget(port = 0): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const open = new Set<import("node:net").Socket>();
  const server: Server = createServer((s) => {
    hits++;
    open.add(s);
    s.on("close", () => open.delete(s));
    s.on("error", () => undefined);
    s.end("HOST-REACHED\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, hits: () => hits, close: () => new Promise((r) => (server.close(() => r()), open.forEach((s) => s.destroy()))) };
}

async function freePort(): Promise<number> {
  const t = await liveTcpTarget();
  await t.close();
  return t.port;
}

/** ssh as USER with `extra` before the destination, in the background, with its diagnostics collected. */
function backgroundSsh(extra: readonly string[], user = USER, env: NodeJS.ProcessEnv = process.env): { kill: () => void; stderr: () => string; stdout: () => string; saw: (re: RegExp, ms?: number) => Promise<boolean>; exited: Promise<number | null> } {
  // LogLevel first: ssh keeps the first value, and the harness's arguments say ERROR.
  const child = spawn("ssh", ["-o", "LogLevel=VERBOSE", ...extra, ...node.sshArgs(user), `${user}@127.0.0.1`], { stdio: ["ignore", "pipe", "pipe"], env });
  let err = "";
  let out = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("close", r));
  return { kill: () => void child.kill(), stderr: () => err, stdout: () => out, saw: (re, ms = 15_000) => eventually(() => re.test(err), ms), exited };
}

describe("five offered keys, only the last one registered", () => {
  const extraKeys = (): string[] => [1, 2, 3, 4].map((i) => join(node.clientDir, `unregistered-${i}`));
  const identities = (keys: readonly string[]): string[] => keys.flatMap((k) => ["-i", k]);
  const base64Of = async (key: string): Promise<string> => (await readFile(`${key}.pub`, "utf8")).trim().split(/\s+/)[1] as string;
  /** Files auth could write: the whole config tree (but sshd's own log) and the state dir. */
  const stateNow = async (withAudit: boolean): Promise<Map<string, string>> =>
    new Map([...(await treeState(layout.etcDir, (p) => p === node.sshdLog)), ...(await treeState(layout.stateDir, (p) => !withAudit && p.startsWith(`${layout.stateDir}/audit.log`)))]);

  before(async () => {
    for (const k of extraKeys()) {
      const r = await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "unregistered@e2e", "-f", k]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  async function setAuthMode(mode: "file" | "command"): Promise<void> {
    const r = await node.podspawn(["server-setup", "--sshd-config", sshdConfig, "--sshd-pid-file", sshdPidFile, "--auth", mode]);
    assert.equal(r.code, 0, r.stderr);
    // The reload is a re-exec: wait for a login that proves the new config answers.
    assert.ok(await eventually(async () => (await node.ssh(USER, ["true"])).code === 0, 10_000, 200), `sshd answers again after switching to --auth ${mode}`);
  }

  for (const mode of ["command", "file"] as const) {
    it(`--auth ${mode}: the four unregistered alone are refused and nothing is written; with the registered fifth, three logins in a row all succeed with that key`, async () => {
      await setAuthMode(mode);
      try {
        const unregistered = extraKeys();
        const all = [...unregistered, node.keyFor(FIVE)];
        const fifth = parsePublicKey(await readFile(`${node.keyFor(FIVE)}.pub`, "utf8")).fingerprint;
        const containersBefore = node.containers();

        const quiet = await stateNow(true);
        const logAt = await sshdLogSize();
        const refused = await runCommand("ssh", [...node.sshArgs(FIVE, unregistered[0]), ...identities(unregistered.slice(1)), `${FIVE}@127.0.0.1`, "echo should-not-run"], { timeoutMs: 30_000 });
        assert.equal(refused.code, 255, refused.stderr);
        assert.equal(refused.stdout, "");
        assert.match(refused.stderr, /Permission denied \(publickey\)/);
        const refusedLog = await sshdLogSince(logAt);
        if (mode === "command") {
          for (const k of unregistered) assert.match(refusedLog, new RegExp(`auth-keys ${FIVE} ssh-ed25519 ${escape(await base64Of(k))}`), `auth-keys was asked about ${k}`);
        }
        assert.deepEqual(await stateNow(true), quiet, "a refused login wrote nothing, not even the audit log");
        assert.deepEqual(node.containers(), containersBefore, "and created no container");

        const settled = await stateNow(false);
        const auditAt = (await readFile(`${layout.stateDir}/audit.log`).catch(() => Buffer.alloc(0))).length;
        for (let run = 1; run <= 3; run++) {
          const at = await sshdLogSize();
          const r = await runCommand("ssh", [...node.sshArgs(FIVE, all[0]), ...identities(all.slice(1)), `${FIVE}@127.0.0.1`, "echo in; id -un"], { timeoutMs: 60_000 });
          assert.equal(r.code, 0, `run ${run}: ${r.stderr}`);
          assert.equal(r.stdout, `in\n${FIVE}\n`, `run ${run}`);
          const log = await sshdLogSince(at);
          assert.match(log, new RegExp(`Accepted publickey for ${FIVE} from .* ED25519 ${escape(fifth)}`), `run ${run}: sshd accepted the fifth key`);
          if (mode === "command") {
            for (const k of all) assert.match(log, new RegExp(`auth-keys ${FIVE} ssh-ed25519 ${escape(await base64Of(k))}`), `run ${run}: auth-keys was asked about ${k}`);
          }
        }
        assert.deepEqual(await stateNow(false), settled, "authentication wrote nothing: keys, rendered lines, config and state as before");
        const audit = (await readFile(`${layout.stateDir}/audit.log`)).subarray(auditAt).toString("utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
        const starts = audit.filter((l) => l["event"] === "session-start");
        assert.equal(starts.length, 3, "one session per login");
        for (const s of starts) assert.deepEqual([s["user"], s["key"]], [FIVE, fifth], "each session was opened by the fifth key");
      } finally {
        await setAuthMode("file");
      }
    });
  }
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

describe("forwarding kinds refused against live targets (plain mode)", () => {
  it("refuses a SOCKS proxy (ssh -D): curl through it gets no answer and the live host listener sees no connection", async () => {
    const target = await liveTcpTarget();
    const socksPort = await freePort();
    const ssh = backgroundSsh(["-N", "-D", `127.0.0.1:${socksPort}`]);
    try {
      assert.ok(await eventually(async () => (await probe(socksPort)) === "connected", 15_000, 100), `ssh listens on ${socksPort}: ${ssh.stderr()}`);
      const curl = await runCommand("curl", ["-sS", "--max-time", "10", "--socks5-hostname", `127.0.0.1:${socksPort}`, `http://127.0.0.1:${target.port}/`], { timeoutMs: 20_000 });
      assert.notEqual(curl.code, 0, "curl got nothing through the proxy");
      assert.doesNotMatch(curl.stdout, /HOST-REACHED/);
      assert.ok(await ssh.saw(/open failed: administratively prohibited/), ssh.stderr());
      assert.equal(target.hits(), 0, "the host listener was never reached");
    } finally {
      ssh.kill();
      await target.close();
    }
  });

  it("refuses a tun device forward (ssh -w): sshd rejects it and no tun device appears for it on the host", async () => {
    const before = await readdir("/sys/class/net");
    const remote = 97;
    const ssh = backgroundSsh(["-v", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "Tunnel=point-to-point", "-w", `any:${remote}`]);
    try {
      const code = await within(ssh.exited, 20_000, -1);
      assert.notEqual(code, -1, "ssh gave up on the forward by itself");
      assert.notEqual(code, 0);
      // PermitTunnel no, in sshd's own words (allowed, it would try the device and say it failed).
      assert.match(ssh.stderr(), /debug1: Remote: Server has rejected tunnel device forwarding/, ssh.stderr());
      assert.match(ssh.stderr(), /Tunnel forwarding failed/);
      assert.equal((await readdir("/sys/class/net")).includes(`tun${remote}`), false, "the server side opened no tun device");
      assert.deepEqual((await readdir("/sys/class/net")).filter((n) => !before.includes(n) && n.startsWith("tun")), [], "no tun device is left behind");
    } finally {
      ssh.kill();
    }
  });

  it("refuses X11 forwarding (ssh -X, trusted as -Y): the request fails, DISPLAY is never set in the container, and the live fake X server sees nothing", async () => {
    assert.equal((await runCommand("sh", ["-c", "command -v xauth"])).code, 0, "xauth is installed (scripts/provision-host.sh), so ssh really asks for X11 forwarding");
    // A fake X server on display :N (TCP 6000+N on loopback) that counts connections.
    let fake: Awaited<ReturnType<typeof liveTcpTarget>> | undefined;
    let display = 0;
    for (display = 70; display < 100 && !fake; display++) fake = await liveTcpTarget(6000 + display).catch(() => undefined);
    assert.ok(fake, "a free X display port for the fake server");
    display--;
    const env = { ...process.env, DISPLAY: `127.0.0.1:${display}`, XAUTHORITY: join(node.clientDir, "Xauthority") };
    // Trusted (-Y) needs no X server extension to make a cookie, so ssh sends its x11-req for sure.
    const session = spawn("ssh", ["-o", "LogLevel=VERBOSE", "-v", "-X", "-o", "ForwardX11Trusted=yes", ...node.sshArgs(USER), `${USER}@127.0.0.1`, 'echo "display=${DISPLAY:-none}"; sleep 3; echo done'], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    session.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    session.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const closed = new Promise((r) => session.once("close", r));
    try {
      assert.ok(await eventually(() => out.includes("display="), 30_000), `session output: ${out} ${err}`);
      // Were it allowed, sshd would listen on the host at 6000 + 10 (X11DisplayOffset) or above.
      for (let port = 6010; port < 6020; port++) await probe(port, "l\0\x0b\0\0\0\0\0\0\0\0\0");
      await closed;
      assert.equal(out, "display=none\ndone\n", err);
      assert.match(err, /Requesting X11 forwarding/, "ssh asked for X11 forwarding");
      assert.match(err, /X11 forwarding request failed on channel \d+/);
      assert.equal(fake!.hits(), 0, "the fake X server saw no connection");
    } finally {
      session.kill();
      await fake!.close();
    }
  });
});

/** Connects to a loopback port (sending `payload`); "connected" or the error code. */
function probe(port: number, payload = ""): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.setTimeout(2000, () => (s.destroy(), resolve("timeout")));
    s.on("connect", () => {
      if (payload) s.write(payload);
      setTimeout(() => (s.destroy(), resolve("connected")), payload ? 200 : 0);
    });
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe("a removed user's live connection", () => {
  it("a ControlMaster connection opened before remove-user is ended by it: a new session through it is refused with one line, and the user's container is gone", async () => {
    const sock = join(node.clientDir, "master.sock");
    const master = backgroundSsh(["-M", "-S", sock, "-N", "-o", "ControlPersist=no"], GONE);
    // Through the master when it is there; should it be gone, ssh falls back to a new login, also refused.
    const through = (cmd: string) => runCommand("ssh", ["-S", sock, ...node.sshArgs(GONE), `${GONE}@127.0.0.1`, cmd], { timeoutMs: 30_000 });
    try {
      assert.ok(await eventually(async () => (await runCommand("ssh", ["-S", sock, "-O", "check", `${GONE}@127.0.0.1`])).code === 0, 15_000, 200), master.stderr());
      const first = await through("echo before");
      assert.equal(first.stdout, "before\n", first.stderr);
      assert.ok(node.containers().some((l) => l.startsWith(`${INSTANCE}.${GONE}.`)), "the user has a container");

      const removed = await node.podspawn(["remove-user", GONE]);
      assert.equal(removed.code, 0, removed.stderr + removed.stdout);
      assert.match(removed.stdout, new RegExp(`ended [1-9][0-9]* host process\\(es\\) of ${GONE} \\(its open ssh connections\\)`));
      assert.notEqual(await within(master.exited, 10_000, -1), -1, "the master connection was ended");
      const after = await through("echo after");
      assert.equal(after.code, 255, "no session after the removal");
      assert.equal(after.stdout, "", "nothing ran");
      assert.deepEqual(after.stderr.trim().split("\n"), [`${GONE}@127.0.0.1: Permission denied (publickey).`], "one clear line");
      assert.ok(await eventually(() => !node.containers().some((l) => l.startsWith(`${INSTANCE}.${GONE}.`)), 10_000), `no container of ${GONE}: ${node.containers().join(", ")}`);
      assert.notEqual((await runCommand("getent", ["passwd", GONE])).code, 0, "the host account is gone");
    } finally {
      master.kill();
    }
  });
});

describe("sshd reload with live sessions", () => {
  it("a live session survives SIGHUP to sshd's listener and bytes still flow both ways after it; a new login works", async () => {
    const s = sshInBackground(node, USER, ['while read -r l; do echo "got $l"; done; echo bye']);
    try {
      s.child.stdin!.write("one\n");
      assert.ok(await s.waitForStdout("got one\n"), s.stderr());
      const pid = await sshdRunning(sshdOptions);
      assert.ok(pid, "the e2e sshd runs");
      const at = await sshdLogSize();
      process.kill(pid, "SIGHUP");
      assert.ok(await eventually(async () => /Received SIGHUP; restarting\.[\s\S]*Server listening on 127\.0\.0\.1 port/.test(await sshdLogSince(at)), 10_000), "sshd re-executed and listens again");
      s.child.stdin!.write("two\n");
      assert.ok(await s.waitForStdout("got two\n", 10_000), `bytes flow after the reload: ${s.stdout()} ${s.stderr()}`);
      const fresh = await node.ssh(USER, ["echo fresh"]);
      assert.equal(fresh.stdout, "fresh\n", fresh.stderr);
      s.child.stdin!.end();
      assert.equal(await within(s.exited, 15_000, -1), 0, s.stderr());
      assert.equal(s.stdout(), "got one\ngot two\nbye\n");
    } finally {
      s.child.kill();
    }
  });
});

describe("disk full where the registry lives", () => {
  it("with a full filesystem under the config dir, add-user, sync and add-project fail with a clear error, change nothing, and sessions still work", async () => {
    const hidden = await mkdtemp(join(tmpdir(), "podspawn-e2e-sshd-"));
    const copy = await mkdtemp(join(tmpdir(), "podspawn-e2e-etc-"));
    const mounts: string[] = [];
    const sh = async (cmd: string, args: readonly string[]): Promise<void> => {
      const r = await runCommand(cmd, args);
      assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
    };
    try {
      await sh("sh", ["-c", `cd "$1" && tar --exclude=./sshd -cf - . | tar -C "$2" -xpf -`, "copy", layout.etcDir, copy]);
      // The sshd dir (config, host key, its growing log) stays on the real disk: bind it back.
      await sh("mount", ["--bind", sshdOptions.dir, hidden]);
      mounts.push(hidden);
      await sh("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755", "podspawn-e2e-full", layout.etcDir]);
      mounts.push(layout.etcDir);
      await sh("sh", ["-c", `cd "$1" && tar -cf - . | tar -C "$2" -xpf -`, "copy", copy, layout.etcDir]);
      await mkdir(sshdOptions.dir);
      await sh("mount", ["--bind", hidden, sshdOptions.dir]);
      mounts.push(sshdOptions.dir);
      // Fill it: the last write is refused with ENOSPC.
      const fill = await runCommand("dd", ["if=/dev/zero", `of=${layout.etcDir}/.filler`, "bs=4096"]);
      assert.match(fill.stderr, /No space left on device/);
      const df = await runCommand("df", ["--output=avail", "-B1", layout.etcDir]);
      assert.equal(df.stdout.trim().split("\n")[1]?.trim(), "0", "the filesystem is full");

      const keep = (p: string): boolean => p.startsWith(sshdOptions.dir) || p === `${layout.etcDir}/.filler`;
      const before = await treeState(layout.etcDir, keep);
      assert.ok([...before.keys()].some((p) => p.endsWith(`/users/${USER}.keys`)), "the copy holds the registry");
      const usersFile = join(node.clientDir, "users.yaml");
      const key = (u: string) => readFile(`${node.keyFor(u)}.pub`, "utf8").then((t) => t.trim());
      await writeFile(usersFile, `version: 1\nusers:\n  - name: ${USER}\n    keys:\n      - ${await key(USER)}\n      - ${await key("stranger")}\n  - name: ${FIVE}\n    keys:\n      - ${await key(FIVE)}\n`);

      const attempts: Array<[string, readonly string[]]> = [
        ["add-user", ["add-user", FULL, "--key-file", `${node.keyFor("stranger")}.pub`]],
        ["add-user (more keys)", ["add-user", USER, "--key-file", `${node.keyFor("stranger")}.pub`]],
        ["sync", ["sync", "--file", usersFile]],
        ["add-project", ["add-project", "fullproj"]],
      ];
      for (const [what, args] of attempts) {
        const r = await node.podspawn(args);
        assert.notEqual(r.code, 0, `${what} fails: ${r.stdout}`);
        assert.match(r.stderr, /no space left on device/i, `${what} says why: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `${what}: no stack, no "internal error"`);
        assert.deepEqual(await treeState(layout.etcDir, keep), before, `${what} changed nothing and left no temp file`);
      }
      assert.notEqual((await runCommand("getent", ["passwd", FULL])).code, 0, "no host account was left for the failed add-user");
      const s = await node.ssh(USER, ["echo still-works"]);
      assert.equal(s.stdout, "still-works\n", s.stderr);
    } finally {
      for (const m of mounts.reverse()) await runCommand("umount", [m]);
      await rm(copy, { recursive: true, force: true });
      // rmdir, never rm -r: were an unmount to fail, this directory would still show the real sshd dir.
      await runCommand("rmdir", [hidden]);
      await runCommand("userdel", ["--", FULL]);
      await node.reload();
    }
  });
});

/**
 * The direct stdio path with real ssh, sshd, spawn, daemon, engine and runc: a command or sftp
 * session without a terminal gets sshd's own pipes, so its bytes pass through neither the daemon
 * nor the engine (their /proc io counters say so), arrive intact, and every way a session ends
 * still ends the process in the container.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerLines, runCommand } from "../../scripts/local-node.js";
import { daemonLog, DEFAULT_TEST_CONFIG, eventually, layout, startNode, type NodeHandle } from "./harness.js";
import { assertClean, randomUpload, sshStream } from "./ssh-stream.js";

const USER = "e2e-direct";
const MiB = 1024 * 1024;
let node: NodeHandle;
let upload: string;
let uploadSha: string;

before(async () => {
  // The default config: the direct path is on by default.
  node = await startNode([USER]);
  ({ path: upload, sha: uploadSha } = await randomUpload(node.clientDir, 64));
  assert.equal((await node.ssh(USER, ["true"])).code, 0);
});
after(async () => {
  await node?.stop();
});

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** Sessions of USER the daemon logged as started on the direct path / on either path. */
async function started(): Promise<{ direct: number; all: number }> {
  const lines = (await readFile(daemonLog, "utf8")).split("\n").filter((l) => l.includes(" session-start ") && l.includes(`user=${USER} `));
  return { direct: lines.filter((l) => / stdio=direct( |$)/.test(l)).length, all: lines.length };
}

const daemonPid = async (): Promise<number> => Number((await readFile(layout.pidFile, "utf8")).trim());

/**
 * Bytes a process's own threads have read plus written (any fd). Per thread: /proc/PID/io also
 * adds in the counts of reaped children (the daemon reaps runc and the processes it runs).
 */
function ioBytes(pid: number): number {
  let sum = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const io = readFileSync(`/proc/${pid}/task/${tid}/io`, "latin1");
      sum += Number(/^rchar: (\d+)$/m.exec(io)?.[1]) + Number(/^wchar: (\d+)$/m.exec(io)?.[1]);
    } catch {
      /* thread gone */
    }
  }
  return sum;
}

/** The containerd shim of the user's container: the engine's copy of a `docker exec` stream. */
function shimPid(): number {
  const id = dockerLines(["ps", "-q", "--no-trunc", "--filter", `label=podspawn.user=${USER}`])[0] ?? "";
  assert.ok(id, "the user's container");
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, "latin1").split("\0");
      if (cmd[0]?.includes("containerd-shim") && cmd.includes(id)) return Number(p);
    } catch {
      /* gone */
    }
  }
  throw new Error(`no shim for ${id}`);
}


/** Host pids whose command line is exactly `argv` (the container's processes are visible on the host). */
function hostPids(argv: readonly string[]): number[] {
  const want = argv.join("\0");
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "latin1").replace(/\0$/, "") === want;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function background(command: string): ChildProcess {
  return spawn("ssh", [...node.sshArgs(USER), `${USER}@127.0.0.1`, command], { stdio: ["pipe", "ignore", "ignore"] });
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | "timeout"> => Promise.race([p, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms).unref())]);

const closed = (c: ChildProcess): Promise<number | null> => new Promise((resolve) => (c.exitCode !== null ? resolve(c.exitCode) : c.once("close", (code) => resolve(code))));

describe("the direct path over real ssh", { timeout: 300_000 }, () => {
  it("moves 64 MiB up and down byte for byte with no byte through the daemon or the engine's shim", async () => {
    const before = await started();
    const daemon = await daemonPid();
    const shim = shimPid();
    const [d0, s0] = [ioBytes(daemon), ioBytes(shim)];
    const up = await sshStream(node, USER, ["cat > up.bin"], upload);
    assertClean(up);
    const down = await sshStream(node, USER, ["cat up.bin"]);
    assertClean(down);
    const [d1, s1] = [ioBytes(daemon), ioBytes(shim)];
    assert.equal(down.bytes, 64 * MiB);
    assert.equal(down.sha, uploadSha, "what came back out");
    const inside = await node.ssh(USER, ["sha256sum < up.bin"]);
    assert.equal(inside.stdout.split(" ")[0], uploadSha, "what arrived in the container");
    const after = await started();
    assert.equal(after.direct - before.direct, 3, "all three sessions took the direct path");
    // 128 MiB moved; the daemon's own reads and writes (frames, /proc, logs) stay far below it.
    assert.ok(d1 - d0 < 4 * MiB, `the daemon read+wrote ${((d1 - d0) / MiB).toFixed(1)} MiB`);
    assert.ok(s1 - s0 < 1 * MiB, `the shim read+wrote ${((s1 - s0) / MiB).toFixed(1)} MiB`);
  });

  it("delivers stdin to EOF, keeps stderr apart from stdout, and returns the exit status", async () => {
    const r = await node.ssh(USER, ["cat; echo on-stderr >&2; exit 3"], { input: "line one\nline two\n" });
    assert.equal(r.stdout, "line one\nline two\n");
    assert.equal(r.stderr, "on-stderr\n");
    assert.equal(r.code, 3);
    const wc = await node.ssh(USER, ["wc -c"], { input: "12345" });
    assert.equal(wc.stdout.trim(), "5", "EOF reaches the process: wc ends and counts");
  });

  it("holds a slow reader back with no buffer in the daemon: its RSS does not grow", async () => {
    const daemon = await daemonPid();
    const rss = (): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${daemon}/status`, "utf8"))?.[1]) * 1024;
    const idle = rss();
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 100);
    const child = spawn("ssh", [...node.sshArgs(USER), `${USER}@127.0.0.1`, "head -c 268435456 /dev/zero"], { stdio: ["ignore", "pipe", "pipe"] });
    let bytes = 0;
    child.stdout.pause();
    await new Promise((r) => setTimeout(r, 3000));
    child.stdout.on("data", (d: Buffer) => (bytes += d.length));
    child.stdout.resume();
    const code = await closed(child);
    clearInterval(sampler);
    assert.equal(code, 0);
    assert.equal(bytes, 256 * MiB);
    assert.ok(peak - idle < 16 * MiB, `the daemon grew by ${((peak - idle) / MiB).toFixed(1)} MiB while a reader paused`);
  });

  it("carries sftp, scp (both protocols) and rsync byte for byte", async () => {
    const before = await started();
    const port = ["-P", node.sshArgs(USER)[1] as string];
    const opts = node.sshArgs(USER).slice(2);
    const back = join(node.clientDir, "back");
    const batch = join(node.clientDir, "batch");
    await writeFile(batch, `put ${upload} sftp.bin\nget sftp.bin ${back}.sftp\n`);
    const sftp = await runCommand("sftp", [...port, ...opts, "-b", batch, `${USER}@127.0.0.1`], { timeoutMs: 120_000 });
    assert.equal(sftp.code, 0, sftp.stderr);
    for (const proto of [[], ["-O"]]) {
      const up = await runCommand("scp", [...proto, ...port, ...opts, upload, `${USER}@127.0.0.1:scp.bin`], { timeoutMs: 120_000 });
      assert.equal(up.code, 0, up.stderr);
      const down = await runCommand("scp", [...proto, ...port, ...opts, `${USER}@127.0.0.1:scp.bin`, `${back}.scp${proto.length}`], { timeoutMs: 120_000 });
      assert.equal(down.code, 0, down.stderr);
      assert.equal(sha256(await readFile(`${back}.scp${proto.length}`)), uploadSha, `scp ${proto.join(" ")}`);
    }
    const rsh = ["ssh", ...node.sshArgs(USER)].join(" ");
    const rup = await runCommand("rsync", ["-e", rsh, upload, `${USER}@127.0.0.1:rsync.bin`], { timeoutMs: 120_000 });
    assert.equal(rup.code, 0, rup.stderr);
    const rdown = await runCommand("rsync", ["-e", rsh, `${USER}@127.0.0.1:rsync.bin`, `${back}.rsync`], { timeoutMs: 120_000 });
    assert.equal(rdown.code, 0, rdown.stderr);
    assert.equal(sha256(await readFile(`${back}.sftp`)), uploadSha, "sftp");
    assert.equal(sha256(await readFile(`${back}.rsync`)), uploadSha, "rsync");
    const inside = await node.ssh(USER, ["sha256sum sftp.bin scp.bin rsync.bin"]);
    for (const line of inside.stdout.trim().split("\n")) assert.equal(line.split(" ")[0], uploadSha, line);
    const after = await started();
    assert.equal(after.direct - before.direct, after.all - before.all, "every one of them on the direct path");
    assert.ok(after.direct - before.direct >= 7);
  });

  it("ends the process in the container when spawn is killed with SIGKILL", async () => {
    const marker = ["sleep", "1001"];
    const child = background(marker.join(" "));
    assert.ok(await eventually(() => hostPids(marker).length === 1, 15_000), "the process runs");
    // spawn: the user's one node process on the host (its only other processes are sshd and sh).
    const uid = Number((await runCommand("id", ["-u", USER])).stdout.trim());
    const spawnPids = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        const uidLine = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "latin1"))?.[1];
        return Number(uidLine) === uid && readFileSync(`/proc/${p}/cmdline`, "latin1").includes("spawn.cjs");
      } catch {
        return false;
      }
    });
    assert.equal(spawnPids.length, 1, `one spawn for that session: ${spawnPids.map((p) => readFileSync(`/proc/${p}/cmdline`, "latin1")).join(" | ")}`);
    process.kill(Number(spawnPids[0]), "SIGKILL");
    assert.ok(await eventually(() => hostPids(marker).length === 0, 10_000), "the process in the container is gone");
    await closed(child);
  });

  it("ends the process in the container on `podspawn stop`, and a child that left its group still holding the user's pipes", async () => {
    const marker = ["sleep", "1002"];
    const escaped = ["sleep", "1003"];
    const child = background(`setsid sleep 1003 & ${marker.join(" ")}`);
    assert.ok(await eventually(() => hostPids(marker).length === 1 && hostPids(escaped).length === 1, 15_000), "both run");
    const stop = await node.podspawn(["stop", USER]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(await eventually(() => hostPids(marker).length === 0 && hostPids(escaped).length === 0, 15_000), "both are gone");
    assert.notEqual(await within(closed(child), 15_000), "timeout", "the user's ssh ends");
  });

  it("ends the user's ssh at a forced end (the idle timeout) even when a child that left the group holds its pipes", async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG.replace("grace_period: 3s", "grace_period: 3s\n  idle_timeout: 2s"));
    await node.reload();
    try {
      const escaped = ["sleep", "1004"];
      const child = background(`setsid sleep 1004 & sleep 1005`);
      assert.ok(await eventually(() => hostPids(escaped).length === 1, 15_000), "it runs");
      assert.notEqual(await within(closed(child), 20_000), "timeout", "the user's ssh ends at the idle timeout");
      assert.equal(hostPids(escaped).length, 0, "the escaped holder is gone");
    } finally {
      await node.writeConfig(DEFAULT_TEST_CONFIG);
      await node.reload();
    }
  });

  it("a daemon restart ends the session's command, also one that ignores SIGHUP, and leaves what the session started with nohup", async () => {
    const kept = ["sleep", "1008"];
    const command = ["sleep", "1009"];
    // The command outlives the hang-up's SIGHUP, so only the daemon's own end of it (not the
    // guard, which would take the whole group, the nohup'd child too) decides what stays.
    const child = background(`nohup sleep 1008 </dev/null >/dev/null 2>&1 & trap '' HUP; sleep 1009`);
    try {
      assert.ok(await eventually(() => hostPids(kept).length === 1 && hostPids(command).length === 1, 15_000), "both run");
      await node.restartDaemon();
      assert.notEqual(await within(closed(child), 15_000), "timeout", "the user's ssh ends");
      assert.equal(hostPids(command).length, 0, "the session's command is gone");
      assert.equal(hostPids(kept).length, 1, "what it left running on its own stays, as on the engine path");
    } finally {
      for (const p of hostPids(kept)) process.kill(p, "SIGKILL");
    }
  });

  it("keeps a session with a terminal on the engine path", async () => {
    const before = await started();
    const r = await runCommand("ssh", ["-tt", ...node.sshArgs(USER), `${USER}@127.0.0.1`, "tty"], { timeoutMs: 60_000 });
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    const after = await started();
    assert.equal(after.all - before.all, 1);
    assert.equal(after.direct, before.direct, "no direct path for a PTY");
  });
});

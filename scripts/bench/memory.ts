/**
 * Memory of our processes, from /proc:
 *
 * - slow readers: N sessions at once each run `head -c SIZE /dev/zero` in the container while
 *   their clients read nothing for a few seconds and then read at a limited rate. The clients are
 *   this process on the user's daemon socket (the spawn protocol, as `spawn` speaks it), so the
 *   reading pace is exact and no ssh encryption competes for the CPU; the daemon cannot tell them
 *   from spawn. The daemon's RSS is sampled throughout and after the sessions have ended.
 * - idle sessions: N real ssh sessions (`sleep`), then the private memory (smaps_rollup) of each
 *   `spawn` process and the daemon's growth over its idle size, per session.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeFrame, FrameDecoder, FrameType } from "../../agent/src/core/protocol/frames.js";
import { userSocketPath } from "../../agent/src/core/host/layout.js";
import { daemonRunning } from "../local-node.js";
import { BENCH_USER, FILE_PORT, INSTANCE, layout, type BenchNode } from "../bench-node.js";
import { pidsWithCmdline, privateKiB, rssKiB } from "./proc.js";
import { f1, median } from "./stats.js";

export interface MemoryOptions {
  readonly sessions: number;
  readonly sizeMiB: number;
  readonly idleCounts: readonly number[];
}

export interface SlowReaderResult {
  readonly sessions: number;
  readonly sizeMiB: number;
  readonly idleRssMiB: number;
  readonly peakRssMiB: number;
  /** RSS 5 s and 30 s after the last session ended. */
  readonly afterRssMiB: number;
  readonly laterRssMiB: number;
  readonly seconds: number;
  readonly allIntact: boolean;
}

export interface IdleResult {
  readonly sessions: number;
  /** Median private memory of one spawn process. */
  readonly spawnPrivateMiB: number;
  /** Daemon private memory growth over idle, divided by the session count. */
  readonly daemonPerSessionMiB: number;
}

export interface MemoryReport {
  readonly slowReaders: SlowReaderResult;
  readonly idle: readonly IdleResult[];
}

const CLIENT_PAUSE_MS = 5000;
/** Each client's pace after the pause: far below what the container produces. */
const CLIENT_RATE_BYTES_PER_S = 32 * 1024 * 1024;
const SETTLE_AFTER_MS = 5000;
const LATER_MS = 30_000;
const MiB = 1024 * 1024;

/** A daemon-socket client that reads nothing for a while, then slowly; resolves with the byte count. */
function slowClient(command: string): Promise<{ bytes: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(userSocketPath(layout, BENCH_USER));
    const decoder = new FrameDecoder();
    let bytes = 0;
    let windowStart = Date.now();
    let windowBytes = 0;
    const hello = { v: 1, command, tty: false, cols: 0, rows: 0, term: null, env: {}, project: null };
    sock.once("connect", () => {
      sock.write(encodeFrame(FrameType.Hello, JSON.stringify(hello)));
      sock.write(encodeFrame(FrameType.StdinEof));
      sock.pause();
      setTimeout(() => sock.resume(), CLIENT_PAUSE_MS);
    });
    sock.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.type === FrameType.Stdout) bytes += f.payload.length;
        else if (f.type === FrameType.Exit) resolve({ bytes, code: (JSON.parse(f.payload.toString("utf8")) as { code: number }).code });
        else if (f.type === FrameType.Error) reject(new Error(f.payload.toString("utf8")));
      }
      windowBytes += chunk.length;
      const ahead = windowBytes / CLIENT_RATE_BYTES_PER_S - (Date.now() - windowStart) / 1000;
      if (ahead > 0.05) {
        sock.pause();
        setTimeout(() => sock.resume(), ahead * 1000);
      }
      if (Date.now() - windowStart > 1000) {
        windowStart = Date.now();
        windowBytes = 0;
      }
    });
    sock.once("error", reject);
    sock.once("close", () => resolve({ bytes, code: null }));
  });
}

async function slowReaders(o: MemoryOptions, daemonPid: number, log: (line: string) => void): Promise<SlowReaderResult> {
  const idle = rssKiB(daemonPid);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(daemonPid))), 100);
  const t0 = Date.now();
  log(`memory: ${o.sessions} sessions x ${o.sizeMiB} MiB to slow readers (daemon idle RSS ${f1(idle / 1024)} MiB)`);
  try {
    const results = await Promise.all(Array.from({ length: o.sessions }, () => slowClient(`head -c ${o.sizeMiB * MiB} /dev/zero`)));
    const seconds = (Date.now() - t0) / 1000;
    await sleep(SETTLE_AFTER_MS);
    const after = rssKiB(daemonPid);
    await sleep(LATER_MS - SETTLE_AFTER_MS);
    const later = rssKiB(daemonPid);
    return { sessions: o.sessions, sizeMiB: o.sizeMiB, idleRssMiB: idle / 1024, peakRssMiB: peak / 1024, afterRssMiB: after / 1024, laterRssMiB: later / 1024, seconds, allIntact: results.every((r) => r.bytes === o.sizeMiB * MiB && r.code === 0) };
  } finally {
    clearInterval(sampler);
  }
}

/** The bench user's spawn processes: spawn's command line names no user, its uid does. */
function spawnPids(): number[] {
  const uid = benchUid ??= Number(execFileSync("id", ["-u", BENCH_USER], { encoding: "utf8" }).trim());
  return pidsWithCmdline([`${layout.libDir}/spawn.cjs`]).filter((pid) => {
    try {
      return new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(readFileSync(`/proc/${pid}/status`, "latin1"));
    } catch {
      return false;
    }
  });
}
let benchUid: number | undefined;

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

async function idleSessions(node: BenchNode, count: number, daemonPid: number, log: (line: string) => void): Promise<IdleResult> {
  const before = privateKiB(daemonPid);
  const clients: ChildProcess[] = [];
  log(`memory: ${count} idle ssh sessions`);
  try {
    for (let i = 0; i < count; i++) {
      // stdin stays an open pipe of ours, so the session lives until we end it.
      clients.push(spawn("ssh", [...node.sshArgs(FILE_PORT, node.keys.bench), `${BENCH_USER}@127.0.0.1`, "sleep 3600"], { stdio: ["pipe", "ignore", "ignore"] }));
      if (i % 10 === 9) await waitFor(() => spawnPids().length >= i + 1, 30_000);
    }
    if (!(await waitFor(() => spawnPids().length >= count, 60_000))) throw new Error(`only ${spawnPids().length} of ${count} sessions started`);
    await sleep(2000);
    const spawns = spawnPids().map(privateKiB);
    const daemonGrowth = privateKiB(daemonPid) - before;
    return { sessions: count, spawnPrivateMiB: median(spawns) / 1024, daemonPerSessionMiB: daemonGrowth / count / 1024 };
  } finally {
    for (const c of clients) c.kill("SIGTERM");
    await waitFor(() => spawnPids().length === 0, 30_000);
  }
}

export async function measureMemory(node: BenchNode, o: MemoryOptions, log: (line: string) => void): Promise<MemoryReport> {
  const daemonPid = await daemonRunning(INSTANCE);
  if (!daemonPid) throw new Error("memory: the bench daemon is not running");
  // Idle first: the daemon's private memory is then not still shrinking from the heavy part.
  const idle: IdleResult[] = [];
  for (const n of o.idleCounts) idle.push(await idleSessions(node, n, daemonPid, log));
  const slow = await slowReaders(o, daemonPid, log);
  return { slowReaders: slow, idle };
}

export function renderMemory(r: MemoryReport): string {
  const s = r.slowReaders;
  const lines = [`memory: daemon RSS with ${s.sessions} sessions x ${s.sizeMiB} MiB to clients that pause ${CLIENT_PAUSE_MS / 1000} s, then read at ${CLIENT_RATE_BYTES_PER_S / MiB} MiB/s`];
  const growth = s.peakRssMiB - s.idleRssMiB;
  lines.push(`  idle ${f1(s.idleRssMiB)} MiB, peak ${f1(s.peakRssMiB)} MiB (growth ${f1(growth)}, target <= 128: ${growth <= 128 ? "met" : "MISSED"}), ${SETTLE_AFTER_MS / 1000} s after ${f1(s.afterRssMiB)} MiB, ${LATER_MS / 1000} s after ${f1(s.laterRssMiB)} MiB; ${f1(s.seconds)} s; bytes intact: ${s.allIntact ? "yes" : "NO"}`);
  for (const i of r.idle) {
    const total = i.spawnPrivateMiB + i.daemonPerSessionMiB;
    lines.push(`  ${String(i.sessions).padStart(3)} idle sessions: spawn private ${f1(i.spawnPrivateMiB)} MiB, daemon +${f1(i.daemonPerSessionMiB)} MiB per session, ours ${f1(total)} MiB per session (target <= 8: ${total <= 8 ? "met" : "MISSED"})`);
  }
  return lines.join("\n") + "\n";
}

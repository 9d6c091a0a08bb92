/**
 * Throughput of a session against plain ssh to the same sshd, both directions, measured in the same
 * run with the rounds interleaved (order rotated each round), so machine noise hits both alike.
 *
 * - upload:   `ssh HOST 'cat > /dev/null' < FILE` (FILE on tmpfs)
 * - download: `ssh HOST 'head -c SIZE /dev/zero' > /dev/null`
 *
 * "plain" is the floor account with a key without a forced command (sshd runs `sh -c` of the
 * command, as for any ssh user); "ours" is a pod user, so the bytes go ssh -> sshd -> spawn ->
 * daemon -> engine -> the process in the container. Each is also run with no data at all, which
 * gives the net transfer time (wall minus the login and start-up that the latency bench covers).
 * Alongside each run it reads CPU time from /proc: the whole machine, the daemon, dockerd and the
 * container's shim, which tells where the extra work of our path goes.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { daemonRunning } from "../local-node.js";
import { BENCH_USER, FILE_PORT, FLOOR_USER, INSTANCE, type BenchNode } from "../bench-node.js";
import { machineBusyMs, pidsWithCmdline, processCpuMs } from "./proc.js";
import { f1, f2, median, stats, type Stats } from "./stats.js";

export interface ThroughputOptions {
  readonly sizeMiB: number;
  readonly runs: number;
}

type Direction = "up" | "down";

/**
 * What carries the bytes. The relay floors are plain ssh with extra copying processes on the
 * server side: what any design with that many relay hops would pay, on this machine, in this run.
 */
interface Path {
  readonly id: string;
  readonly label: string;
  readonly pod: boolean;
  /** Server-side command for `bytes` (0: the same session without data). */
  command(direction: Direction, bytes: number): string;
}

const NODE_RELAY = `${process.execPath} -e 'process.stdin.pipe(process.stdout)'`;

function relayed(relays: readonly string[]): (direction: Direction, bytes: number) => string {
  return (direction, bytes) => (direction === "up" ? [...relays, "cat > /dev/null"] : [`head -c ${bytes} /dev/zero`, ...relays]).join(" | ");
}

const PATHS: readonly Path[] = [
  { id: "plain", label: "plain ssh", pod: false, command: relayed([]) },
  { id: "plain+cat", label: "plain ssh + 1 cat relay", pod: false, command: relayed(["cat"]) },
  { id: "plain+1node", label: "plain ssh + 1 Node relay", pod: false, command: relayed([NODE_RELAY]) },
  { id: "plain+2node", label: "plain ssh + 2 Node relays", pod: false, command: relayed([NODE_RELAY, NODE_RELAY]) },
  { id: "ours", label: "podspawn session", pod: true, command: relayed([]) },
];

interface Variant {
  readonly id: string;
  readonly direction: Direction;
  readonly path: Path;
  /** false: the same command with no data, for the net time. */
  readonly loaded: boolean;
}

interface CpuSample {
  readonly machine: number;
  readonly daemon: number;
  readonly dockerd: number;
  readonly shim: number;
}

interface Run {
  readonly ms: number;
  readonly cpu: CpuSample;
}

export interface PathRatio {
  readonly wall: number;
  readonly net: number;
  readonly netMiBs: number;
}

export interface ThroughputReport {
  readonly sizeMiB: number;
  readonly runs: number;
  readonly variants: Record<string, { readonly wall: Stats; readonly cpuMs: CpuSample }>;
  /** Each path against plain ssh, per direction: by wall clock and by net transfer time. */
  readonly ratios: Record<Direction, Record<string, PathRatio>>;
}

const SETTLE_MS = 200;
const UPLOAD_FILE = "/dev/shm/podspawn-bench-upload";
const CLEAN_ENV: NodeJS.ProcessEnv = { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: process.env["HOME"] ?? "/root", LANG: "C.UTF-8" };

function variants(): Variant[] {
  const out: Variant[] = [];
  for (const direction of ["up", "down"] as const) for (const path of PATHS) for (const loaded of [true, false]) out.push({ id: `${direction} ${path.id}${loaded ? "" : " empty"}`, direction, path, loaded });
  return out;
}

/** One ssh run with stdin and stdout on files (no pipe through this process): its wall time. */
function timeSsh(args: readonly string[], stdinPath: string, stdoutPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const inFd = openSync(stdinPath, "r");
    const outFd = openSync(stdoutPath, "w");
    let stderr = "";
    const t0 = process.hrtime.bigint();
    const child = spawn("ssh", args, { stdio: [inFd, outFd, "pipe"], env: CLEAN_ENV });
    closeSync(inFd);
    closeSync(outFd);
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`ssh ${args.slice(-2).join(" ")} exited ${code}: ${stderr.trim().slice(0, 300)}`));
      else if (stderr !== "") reject(new Error(`ssh ${args.slice(-2).join(" ")} wrote to stderr: ${JSON.stringify(stderr.slice(0, 300))}`));
      else resolve(ms);
    });
  });
}

/** Output of one ssh run, counted in this process: the untimed check that the bytes really flow. */
function sshOutput(args: readonly string[], stdinPath: string): Promise<{ bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const inFd = openSync(stdinPath, "r");
    const child = spawn("ssh", args, { stdio: [inFd, "pipe", "inherit"], env: CLEAN_ENV });
    closeSync(inFd);
    let bytes = 0;
    let head = "";
    child.stdout?.on("data", (d: Buffer) => {
      bytes += d.length;
      if (head.length < 100) head += d.toString("latin1");
    });
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve({ bytes, text: head.trim() }) : reject(new Error(`ssh exited ${code}`))));
  });
}

interface Target {
  readonly args: (pod: boolean, command: string) => string[];
  readonly daemonPid: number;
  readonly dockerdPid: number;
  readonly shimPid: () => number;
}

function cpuNow(t: Target): CpuSample {
  return { machine: machineBusyMs(), daemon: processCpuMs(t.daemonPid), dockerd: processCpuMs(t.dockerdPid), shim: processCpuMs(t.shimPid()) };
}

const cpuDelta = (a: CpuSample, b: CpuSample): CpuSample => ({ machine: b.machine - a.machine, daemon: b.daemon - a.daemon, dockerd: b.dockerd - a.dockerd, shim: b.shim - a.shim });

async function measure(t: Target, v: Variant, bytes: number): Promise<Run> {
  await sleep(SETTLE_MS);
  const before = cpuNow(t);
  const ms = await timeSsh(t.args(v.path.pod, v.path.command(v.direction, v.loaded ? bytes : 0)), v.direction === "up" && v.loaded ? UPLOAD_FILE : "/dev/null", "/dev/null");
  return { ms, cpu: cpuDelta(before, cpuNow(t)) };
}

/** Before timing anything: every path moves exactly the bytes asked for, both ways. */
async function verify(t: Target, bytes: number): Promise<void> {
  for (const path of PATHS) {
    const up = await sshOutput(t.args(path.pod, path.command("up", bytes).replace(/cat > \/dev\/null$/, "wc -c")), UPLOAD_FILE);
    if (up.text !== String(bytes)) throw new Error(`${path.id} upload delivered ${up.text} bytes, expected ${bytes}`);
    const down = await sshOutput(t.args(path.pod, path.command("down", bytes)), "/dev/null");
    if (down.bytes !== bytes) throw new Error(`${path.id} download delivered ${down.bytes} bytes, expected ${bytes}`);
  }
}

async function target(node: BenchNode): Promise<Target> {
  const daemonPid = await daemonRunning(INSTANCE);
  const dockerdPid = pidsWithCmdline(["dockerd"]).find((p) => processCpuMs(p) >= 0);
  if (!daemonPid || !dockerdPid) throw new Error("throughput: no daemon or dockerd pid");
  let shim = 0;
  return {
    daemonPid,
    dockerdPid,
    shimPid: () => {
      const id = node.containerId();
      if (id && !(processCpuMs(shim) >= 0)) shim = pidsWithCmdline(["containerd-shim", id])[0] ?? 0;
      return shim;
    },
    args: (pod, command) => (pod ? [...node.sshArgs(FILE_PORT, node.keys.bench), `${BENCH_USER}@127.0.0.1`, command] : [...node.sshArgs(FILE_PORT, node.keys.floorPlain), `${FLOOR_USER}@127.0.0.1`, command]),
  };
}

export async function measureThroughput(node: BenchNode, opts: ThroughputOptions, log: (line: string) => void): Promise<ThroughputReport> {
  const bytes = opts.sizeMiB * 1024 * 1024;
  const block = randomBytes(1024 * 1024);
  await writeFile(UPLOAD_FILE, Buffer.concat(Array.from({ length: opts.sizeMiB }, () => block)), { mode: 0o644 });
  try {
    const t = await target(node);
    log(`throughput: checking ${opts.sizeMiB} MiB both ways on every path`);
    await verify(t, bytes);
    const all = variants();
    const runs = new Map<string, Run[]>(all.map((v) => [v.id, []]));
    for (let round = 0; round < opts.runs; round++) {
      const k = round % all.length;
      for (const v of [...all.slice(k), ...all.slice(0, k)]) runs.get(v.id)?.push(await measure(t, v, bytes));
      log(`throughput round ${round + 1}/${opts.runs} done`);
    }
    return report(opts, runs);
  } finally {
    await rm(UPLOAD_FILE, { force: true });
  }
}

function report(opts: ThroughputOptions, runs: Map<string, Run[]>): ThroughputReport {
  const variantsOut: ThroughputReport["variants"] = {};
  for (const [id, rs] of runs) {
    const cpu = (k: keyof CpuSample): number => median(rs.map((r) => r.cpu[k]));
    variantsOut[id] = { wall: stats(rs.map((r) => r.ms)), cpuMs: { machine: cpu("machine"), daemon: cpu("daemon"), dockerd: cpu("dockerd"), shim: cpu("shim") } };
  }
  const med = (id: string): number => variantsOut[id]?.wall.median ?? NaN;
  const net = (d: Direction, p: string): number => med(`${d} ${p}`) - med(`${d} ${p} empty`);
  const ratios = { up: {}, down: {} } as Record<Direction, Record<string, PathRatio>>;
  for (const d of ["up", "down"] as const) {
    for (const p of PATHS) ratios[d][p.id] = { wall: med(`${d} plain`) / med(`${d} ${p.id}`), net: net(d, "plain") / net(d, p.id), netMiBs: opts.sizeMiB / (net(d, p.id) / 1000) };
  }
  return { sizeMiB: opts.sizeMiB, runs: opts.runs, variants: variantsOut, ratios };
}

export function renderThroughput(r: ThroughputReport): string {
  const lines = [`throughput: ${r.sizeMiB} MiB, ${r.runs} rounds interleaved; wall ms and CPU ms per run from /proc (medians)`];
  lines.push(`  ${"variant".padEnd(24)} ${"median".padStart(8)} ${"p90".padStart(8)}   ${"cpu all".padStart(8)} ${"daemon".padStart(7)} ${"dockerd".padStart(8)} ${"shim".padStart(6)}`);
  for (const [id, v] of Object.entries(r.variants)) {
    lines.push(`  ${id.padEnd(24)} ${f1(v.wall.median).padStart(8)} ${f1(v.wall.p90).padStart(8)}   ${f1(v.cpuMs.machine).padStart(8)} ${f1(v.cpuMs.daemon).padStart(7)} ${f1(v.cpuMs.dockerd).padStart(8)} ${f1(v.cpuMs.shim).padStart(6)}`);
  }
  lines.push("  against plain ssh (target for the podspawn session: >= 0.90 both ways):");
  for (const d of ["up", "down"] as const) {
    for (const p of PATHS) {
      const x = r.ratios[d][p.id];
      if (!x) continue;
      const verdict = p.pod ? (x.net >= 0.9 ? "  met" : `  MISSED by ${f2(0.9 - x.net)}`) : "";
      lines.push(`    ${d === "up" ? "upload  " : "download"} ${p.label.padEnd(26)} wall ${f2(x.wall)}, net ${f2(x.net)} (${f1(x.netMiBs)} MiB/s)${verdict}`);
    }
  }
  return lines.join("\n") + "\n";
}

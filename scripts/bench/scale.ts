/**
 * `npm run bench -- --scale` (or `node dist/scripts/bench/scale.js` alone): a node under many
 * users, on instance `podspawn-scale` with its own daemon and sshd (127.0.0.1:2226), the small
 * image (`podspawn/busybox:test`) and users added by one `podspawn sync`.
 *
 *  1. one user: a single warm login, sequentially, against 50 concurrent warm logins (p50/p95);
 *  2. 200 distinct users' simultaneous first logins (p50/p95), against one first login alone;
 *  3. 500 idle environments: the daemon's RSS and private memory, and the 501st user's line.
 *
 * Takes several minutes (500 containers and networks are made and removed); not a test. Importing
 * this module has no side effects; everything started is stopped by pid file or label.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "node:net";
import { layoutFor, userSocketPath } from "../../agent/src/core/host/layout.js";
import { encodeFrame, FrameDecoder, FrameType } from "../../agent/src/core/protocol/frames.js";
import { daemonRunning, dockerLines, removeInstanceContainers, runCommand, runPodspawn, startDaemon, startSshd, stopDaemon, stopSshd, type CommandResult, type SshdOptions } from "../local-node.js";

export const SCALE_INSTANCE = "podspawn-scale";
const PORT = 2226;
const IMAGE = "podspawn/busybox:test";
const layout = layoutFor(SCALE_INSTANCE);
const daemonLog = `/var/log/${SCALE_INSTANCE}-daemon.log`;
const sshd: SshdOptions = { instance: SCALE_INSTANCE, listen: "127.0.0.1", port: PORT, dir: `${layout.etcDir}/sshd` };
const bundleDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "dist", "bundle");

const ENVIRONMENTS = 500;
const CROWD = 200;
const CONCURRENT_ONE = 50;
const ONE = "scale-one";
const users = (n: number, from = 1): string[] => Array.from({ length: n }, (_, i) => `scale-u${String(from + i).padStart(3, "0")}`);
/** With ONE: 200 in the crowd, 10 lone first logins, 289 more idle ones (500 in all), the 501st refused. */
const MANY = users(ENVIRONMENTS);

/** 500 environments exactly, so the 501st shows the capacity line; nothing expires during the run. */
const CONFIG = `# Written by scripts/bench/scale.ts
image: ${IMAGE}
session:
  grace_period: 2h
  idle_timeout: 0
  max_lifetime: 0
resources:
  cpus: 1
  memory: 128m
  pids: 128
limits:
  max_environments: ${ENVIRONMENTS}
  sessions_per_user: 100
network_linger: 2h
`;

export interface Latencies {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

export interface ScaleReport {
  readonly usersSyncMs: number;
  readonly oneUser: {
    readonly single: Latencies;
    readonly concurrent: Latencies;
    readonly rounds: number;
    /** The same 50 at once without ssh or a Node start: this process speaks to the daemon's socket. */
    readonly daemonOnly: Latencies;
    /** Floor: 50 `docker exec <container> true` at once (docker CLI). */
    readonly dockerExec: Latencies;
  };
  readonly crowd: { readonly alone: Latencies; readonly simultaneous: Latencies; readonly wallMs: number; readonly failed: number };
  readonly idle: {
    readonly environments: number;
    readonly createMs: number;
    readonly daemonRssMiB: { readonly idle: number; readonly with500: number };
    readonly daemonPrivateMiB: { readonly idle: number; readonly with500: number };
    readonly beyond: string;
  };
}

function must(what: string, r: CommandResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

function latencies(ms: readonly number[]): Latencies {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(percentile(s, 50)), p95: r(percentile(s, 95)), max: r(s[s.length - 1] ?? NaN) };
}

async function inBatches<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await run(items[i] as T);
      }
    }),
  );
  return out;
}

interface Login {
  readonly ms: number;
  readonly code: number;
  readonly stderr: string;
}

/** One `ssh USER true`, wall time from spawn to exit. */
function login(clientDir: string, knownHosts: string, user: string): Promise<Login> {
  return new Promise((resolve, reject) => {
    const args = ["-F", "/dev/null", "-p", String(PORT), "-i", join(clientDir, user), "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "KexAlgorithms=curve25519-sha256", "-o", "LogLevel=ERROR", `${user}@127.0.0.1`, "true"];
    const t0 = process.hrtime.bigint();
    const child = spawn("ssh", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code: code ?? 128, stderr }));
  });
}

/** One session straight on the user's daemon socket (root may connect to any): hello, EOF, exit frame. */
function daemonSession(user: string): Promise<Login> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const sock = connect(userSocketPath(layout, user));
    const decoder = new FrameDecoder();
    const done = (code: number, stderr = ""): void => {
      sock.destroy();
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, stderr });
    };
    sock.once("connect", () => {
      sock.write(encodeFrame(FrameType.Hello, JSON.stringify({ v: 1, command: "true", tty: false, cols: 0, rows: 0, term: null, env: {}, project: null })));
      sock.write(encodeFrame(FrameType.StdinEof));
    });
    sock.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.type === FrameType.Exit) done((JSON.parse(f.payload.toString("utf8")) as { code: number }).code);
        else if (f.type === FrameType.Error) done(255, f.payload.toString("utf8"));
      }
    });
    sock.once("error", (err) => done(255, err.message));
  });
}

/** Wall time of one program run. */
function timed(cmd: string, args: readonly string[]): Promise<Login> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code: code ?? 128, stderr }));
  });
}

/** VmRSS and the private part (Private_Clean + Private_Dirty) of a process, in MiB. */
async function memoryOf(pid: number): Promise<{ rss: number; private: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? NaN);
  const mib = (k: number): number => Math.round((k / 1024) * 10) / 10;
  return { rss: mib(kb("Rss")), private: mib(kb("Private_Clean") + kb("Private_Dirty")) };
}

interface ScaleNode {
  readonly clientDir: string;
  readonly knownHosts: string;
  readonly daemonPid: number;
  readonly syncMs: number;
}

async function syncUsers(clientDir: string, names: readonly string[]): Promise<void> {
  const lines = ["version: 1", names.length ? "users:" : "users: []"];
  for (const u of names) lines.push(`  - name: ${u}`, "    keys:", `      - ${(await readFile(join(clientDir, `${u}.pub`), "utf8")).trim()}`);
  await writeFile(join(clientDir, "users.yaml"), lines.join("\n") + "\n");
  must("podspawn sync", await runPodspawn(SCALE_INSTANCE, ["sync", "--file", join(clientDir, "users.yaml")], { timeoutMs: 1_800_000 }));
}

async function sweep(): Promise<void> {
  await stopSshd(sshd);
  await stopDaemon(SCALE_INSTANCE);
  removeInstanceContainers(SCALE_INSTANCE);
}

async function startScaleNode(log: (line: string) => void): Promise<ScaleNode> {
  if (process.getuid?.() !== 0) throw new Error("the scale benchmark must run as root");
  await sweep();
  must("podspawn install", await runCommand(process.execPath, [join(bundleDir, "podspawn.cjs"), "install", "--instance", SCALE_INSTANCE, "--bundle-dir", bundleDir]));
  await writeFile(layout.configFile, CONFIG, { mode: 0o644 });
  await startDaemon({ instance: SCALE_INSTANCE, logFile: daemonLog });
  const h = await startSshd(sshd);
  must("server-setup", await runPodspawn(SCALE_INSTANCE, ["server-setup", "--sshd-config", h.configFile, "--sshd-pid-file", h.pidFile]));
  const clientDir = await mkdtemp(join(tmpdir(), "podspawn-scale-"));
  const knownHosts = join(clientDir, "known_hosts");
  await writeFile(knownHosts, `[127.0.0.1]:${PORT} ${h.hostPublicKey}\n`);
  const everyone = [ONE, ...MANY];
  log(`generating ${everyone.length} keys`);
  await inBatches(everyone, 8, async (u) => must("ssh-keygen", await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${u}@scale`, "-f", join(clientDir, u)])));
  log(`adding ${everyone.length} users with one podspawn sync`);
  const t0 = Date.now();
  await syncUsers(clientDir, everyone);
  const daemonPid = await daemonRunning(SCALE_INSTANCE);
  if (!daemonPid) throw new Error("the scale daemon is not running");
  return { clientDir, knownHosts, daemonPid, syncMs: Date.now() - t0 };
}

async function stopScaleNode(node: ScaleNode | null, log: (line: string) => void): Promise<void> {
  log("cleaning up: containers and networks by label, then the accounts");
  await sweep();
  if (node) {
    await syncUsers(node.clientDir, []);
    await rm(node.clientDir, { recursive: true, force: true });
  }
}

function checked(what: string, results: readonly Login[]): number[] {
  const bad = results.filter((r) => r.code !== 0);
  if (bad.length) throw new Error(`${what}: ${bad.length} of ${results.length} logins failed, e.g. exit ${bad[0]?.code}: ${bad[0]?.stderr.trim()}`);
  return results.map((r) => r.ms);
}

async function oneUser(node: ScaleNode, log: (line: string) => void): Promise<ScaleReport["oneUser"]> {
  const go = (): Promise<Login> => login(node.clientDir, node.knownHosts, ONE);
  checked("warm-up", [await go()]);
  log("one user: 20 single warm logins");
  const single: Login[] = [];
  for (let i = 0; i < 20; i++) single.push(await go());
  const rounds = 3;
  const concurrent: Login[] = [];
  for (let r = 0; r < rounds; r++) {
    log(`one user: ${CONCURRENT_ONE} concurrent warm logins, round ${r + 1}/${rounds}`);
    concurrent.push(...(await Promise.all(Array.from({ length: CONCURRENT_ONE }, go))));
  }
  const daemonOnly: Login[] = [];
  const dockerExec: Login[] = [];
  const container = dockerLines(["ps", "-q", "--filter", `label=podspawn.instance=${SCALE_INSTANCE}`, "--filter", `label=podspawn.user=${ONE}`])[0] ?? "";
  for (let r = 0; r < rounds; r++) {
    log(`one user: ${CONCURRENT_ONE} concurrent daemon sessions and ${CONCURRENT_ONE} concurrent docker execs, round ${r + 1}/${rounds}`);
    daemonOnly.push(...(await Promise.all(Array.from({ length: CONCURRENT_ONE }, () => daemonSession(ONE)))));
    dockerExec.push(...(await Promise.all(Array.from({ length: CONCURRENT_ONE }, () => timed("docker", ["exec", container, "true"])))));
  }
  return {
    single: latencies(checked("single", single)),
    concurrent: latencies(checked("concurrent", concurrent)),
    rounds,
    daemonOnly: latencies(checked("daemon sessions", daemonOnly)),
    dockerExec: latencies(checked("docker exec", dockerExec)),
  };
}

async function crowd(node: ScaleNode, log: (line: string) => void): Promise<ScaleReport["crowd"]> {
  const loners = MANY.slice(-10);
  log("first logins alone: 10 users one after another");
  const alone: Login[] = [];
  for (const u of loners) alone.push(await login(node.clientDir, node.knownHosts, u));
  log(`${CROWD} distinct users' first logins at the same moment`);
  const t0 = Date.now();
  const all = await Promise.all(MANY.slice(0, CROWD).map((u) => login(node.clientDir, node.knownHosts, u)));
  const wallMs = Date.now() - t0;
  const failed = all.filter((r) => r.code !== 0).length;
  return { alone: latencies(checked("alone", alone)), simultaneous: latencies(all.filter((r) => r.code === 0).map((r) => r.ms)), wallMs, failed };
}

async function idle(node: ScaleNode, before: { rss: number; private: number }, log: (line: string) => void): Promise<ScaleReport["idle"]> {
  // ONE, the 10 loners and the crowd already have one each.
  const rest = MANY.slice(CROWD, ENVIRONMENTS - 11);
  log(`making ${rest.length} more environments (50 logins at a time) to reach ${ENVIRONMENTS}`);
  const t0 = Date.now();
  checked("idle environments", await inBatches(rest, 50, (u) => login(node.clientDir, node.knownHosts, u)));
  const createMs = Date.now() - t0;
  const status = JSON.parse(must("status", await runPodspawn(SCALE_INSTANCE, ["status", "--json"]))) as { containers: unknown[] };
  // Let the daemon settle (timers, sockets) before reading its memory.
  await new Promise((r) => setTimeout(r, 5000));
  const after = await memoryOf(node.daemonPid);
  const beyondUser = MANY[ENVIRONMENTS - 11] as string;
  const beyond = await login(node.clientDir, node.knownHosts, beyondUser);
  return { environments: status.containers.length, createMs, daemonRssMiB: { idle: before.rss, with500: after.rss }, daemonPrivateMiB: { idle: before.private, with500: after.private }, beyond: `exit ${beyond.code}: ${beyond.stderr.trim()}` };
}

export async function runScaleBench(log: (line: string) => void): Promise<ScaleReport> {
  let node: ScaleNode | null = null;
  try {
    node = await startScaleNode(log);
    const before = await memoryOf(node.daemonPid);
    const one = await oneUser(node, log);
    const many = await crowd(node, log);
    const idleEnvs = await idle(node, before, log);
    return { usersSyncMs: node.syncMs, oneUser: one, crowd: many, idle: idleEnvs };
  } finally {
    await stopScaleNode(node, log);
  }
}

const row = (label: string, l: Latencies): string => `  ${label.padEnd(44)} p50 ${l.p50.toFixed(0).padStart(6)}  p95 ${l.p95.toFixed(0).padStart(6)}  max ${l.max.toFixed(0).padStart(6)} ms  (n=${l.n})`;

export function renderScale(r: ScaleReport): string {
  const i = r.idle;
  return [
    `scale (instance ${SCALE_INSTANCE}, ${IMAGE}; ${MANY.length + 1} users added by one sync in ${r.usersSyncMs} ms)`,
    row("one user, single warm login", r.oneUser.single),
    row(`one user, ${CONCURRENT_ONE} concurrent warm logins (x${r.oneUser.rounds})`, r.oneUser.concurrent),
    `  ratio p50 concurrent / single: ${(r.oneUser.concurrent.p50 / r.oneUser.single.p50).toFixed(2)}`,
    row(`  the same ${CONCURRENT_ONE} as daemon sessions alone (no ssh, no Node)`, r.oneUser.daemonOnly),
    row(`  floor: ${CONCURRENT_ONE} concurrent docker exec <container> true`, r.oneUser.dockerExec),
    row("a first login alone", r.crowd.alone),
    row(`${CROWD} distinct users' simultaneous first logins`, r.crowd.simultaneous),
    `  all ${CROWD} done after ${r.crowd.wallMs} ms; failed: ${r.crowd.failed}`,
    `  ${i.environments} idle environments (made in ${i.createMs} ms): daemon RSS ${i.daemonRssMiB.idle} -> ${i.daemonRssMiB.with500} MiB, private ${i.daemonPrivateMiB.idle} -> ${i.daemonPrivateMiB.with500} MiB`,
    `  the next user: ${i.beyond}`,
    "",
  ].join("\n");
}

// Run directly: node dist/scripts/bench/scale.js
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runScaleBench((line) => void process.stderr.write(`bench scale: ${line}\n`)).then(
    (r) => {
      process.stdout.write(renderScale(r));
      process.stderr.write(JSON.stringify(r) + "\n");
    },
    (err: unknown) => {
      process.stderr.write(`bench scale: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

/**
 * `npm run bench`: what a podspawn login costs, against floors measured in the same run.
 *
 * Floors: (a) ssh to a forced /bin/true on the same kind of sshd, (b) `docker exec <running> true`,
 * (c) `docker run --rm <image> true`, (d) `node -e 0`. Ours: warm login (container running) with file
 * and with command auth, cold login (container evicted first, image cached), `auth-keys` alone,
 * `spawn` alone (as the user, no ssh), and the daemon session alone (no Node start: this process
 * speaks the spawn protocol itself). Every variant runs once per round, in an order rotated each
 * round, so machine noise hits all of them alike. Not a test: it prints figures and ratios.
 *
 * Usage: node dist/scripts/bench.js [--runs N] [--json] [--scale]   (N >= 10, default 15; needs root)
 * --json prints the report as JSON on stdout and the table on stderr.
 * --scale adds the node-scale sections afterwards (scripts/bench/scale.ts; several minutes).
 */
import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { connect } from "node:net";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { $ } from "zx/core";
import { encodeFrame, FrameDecoder, FrameType } from "../agent/src/core/protocol/frames.js";
import { userSocketPath } from "../agent/src/core/host/layout.js";
import { renderScale, runScaleBench } from "./bench/scale.js";
import { parseSections, runSections, SECTION_FLAGS, writeSections } from "./bench/sections.js";
import { BENCH_PROJECT, BENCH_SERVICES_PROJECT, BENCH_USER, COMMAND_PORT, daemonLog, FILE_PORT, FLOOR_USER, IMAGE, INSTANCE, layout, startBenchNode, type Account, type BenchNode } from "./bench-node.js";

const DEFAULT_RUNS = 15;
const MIN_RUNS = 10;
/** Pause before every measurement, longer after an eviction (dockerd tidies up in the background). */
const SETTLE_MS = 150;
const AFTER_EVICT_MS = 500;
/** The environment sshd gives a forced command or an AuthorizedKeysCommand. */
const SSHD_PATH_ENV = "/usr/bin:/bin:/usr/sbin:/sbin";
/**
 * Every measured program gets this minimal environment, never ours: sshd passes none of it either,
 * and e.g. NODE_EXTRA_CA_CERTS (set in some shells) adds ~35 ms to every Node start by itself.
 */
const CLEAN_ENV: NodeJS.ProcessEnv = { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: process.env["HOME"] ?? "/root", LANG: "C.UTF-8" };

type Kind = "floor" | "ours" | "part";

interface Variant {
  readonly id: string;
  readonly kind: Kind;
  readonly label: string;
  /** Untimed set-up before each measurement (e.g. evict the container for a cold login). */
  readonly prepare?: () => Promise<void>;
  /** Returns the elapsed milliseconds of one measured run; throws if the run failed. */
  readonly run: () => Promise<number>;
}

interface Sample {
  readonly ms: number;
  /** Wall-clock start and end (ms since epoch), to place the daemon's log lines inside the run. */
  readonly startedAt: number;
  readonly endedAt: number;
}

interface TimeOptions {
  readonly uid?: number;
  readonly gid?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Checked against stdout after a successful exit. */
  readonly expectStdout?: RegExp;
}

function elapsedMs(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6;
}

/**
 * Wall time of one program run, from spawn() to its exit; stdin is /dev/null (EOF at once). A plain
 * spawn, not zx: a shell in between would be measured too, and the run needs uid/gid.
 */
function timeProgram(cmd: string, args: readonly string[], opts: TimeOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let ms = 0;
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? CLEAN_ENV, uid: opts.uid, gid: opts.gid });
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("exit", () => (ms = elapsedMs(t0)));
    child.once("error", reject);
    child.once("close", (code, signal) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(" ")} exited ${code ?? signal}: ${stderr.trim().slice(0, 500)}`));
      else if (opts.expectStdout && !opts.expectStdout.test(stdout)) reject(new Error(`${cmd} ${args.join(" ")}: unexpected output ${JSON.stringify(stdout.slice(0, 200))}`));
      else resolve(ms);
    });
  });
}

/**
 * One session through the user's daemon socket from this (already running) process: what the
 * daemon and Docker cost without any Node start or ssh. Root may connect to any user's socket.
 */
function timeDaemonSession(user: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const sock = connect(userSocketPath(layout, user));
    const decoder = new FrameDecoder();
    const hello = { v: 1, command: "true", tty: false, cols: 0, rows: 0, term: null, env: {}, project: null };
    sock.once("connect", () => {
      sock.write(encodeFrame(FrameType.Hello, JSON.stringify(hello)));
      sock.write(encodeFrame(FrameType.StdinEof));
    });
    sock.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.type === FrameType.Exit) {
          const ms = elapsedMs(t0);
          sock.destroy();
          const code = (JSON.parse(f.payload.toString("utf8")) as { code?: unknown }).code;
          if (code === 0) resolve(ms);
          else reject(new Error(`daemon session exited ${String(code)}`));
        } else if (f.type === FrameType.Error) {
          sock.destroy();
          reject(new Error(`daemon session failed: ${f.payload.toString("utf8")}`));
        }
      }
    });
    sock.once("error", reject);
    sock.once("close", () => reject(new Error("daemon closed the session without an exit frame")));
  });
}

/** Untimed: a first login should meet the pool as a node at rest has it (refilled after the last claim). */
async function poolRefilled(node: BenchNode): Promise<void> {
  const size = Number(process.env.PODSPAWN_BENCH_POOL ?? 2);
  for (let i = 0; i < 100 && node.pooledIds().length < size; i++) await sleep(100);
}

/**
 * What an idle pooled container costs: its memory cgroup's usage (page cache included) and its
 * CPU over `ms` (cgroup v1, cgroupfs driver, as on these machines).
 */
async function idlePooledCost(node: BenchNode, ms = 5000): Promise<string> {
  const ids = node.pooledIds();
  if (ids.length === 0) return "";
  const read = async (path: string): Promise<number> => Number((await readFile(path, "utf8")).trim());
  const cpu0 = await Promise.all(ids.map((id) => read(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`)));
  await sleep(ms);
  const lines = ["", `idle pooled containers (${ids.length}), over ${ms / 1000} s:`];
  for (const [i, id] of ids.entries()) {
    const cpu = (await read(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`)) - (cpu0[i] ?? 0);
    const mem = await read(`/sys/fs/cgroup/memory/docker/${id}/memory.usage_in_bytes`);
    const rss = /^total_rss (\d+)$/m.exec(await readFile(`/sys/fs/cgroup/memory/docker/${id}/memory.stat`, "utf8"))?.[1] ?? "0";
    lines.push(`  ${id.slice(0, 12)}  memory ${(mem / 1024 ** 2).toFixed(1)} MiB (rss ${(Number(rss) / 1024 ** 2).toFixed(1)} MiB)  cpu ${(cpu / 1e6).toFixed(1)} ms (${((cpu / 1e6 / ms) * 100).toFixed(3)} %)`);
  }
  return lines.join("\n") + "\n";
}

function defineVariants(node: BenchNode): Variant[] {
  const ssh = (port: number, key: string, user: string) => () => timeProgram("ssh", [...node.sshArgs(port, key), `${user}@127.0.0.1`, "true"]);
  const warm = ssh(FILE_PORT, node.keys.bench, BENCH_USER);
  let container = "";
  const asUser = (a: Account, extra: NodeJS.ProcessEnv): TimeOptions => ({ uid: a.uid, gid: a.gid, env: { PATH: SSHD_PATH_ENV, ...extra } });
  const coldPrepare = async (): Promise<void> => {
    await node.evict();
    await sleep(AFTER_EVICT_MS);
    await poolRefilled(node);
  };
  return [
    { id: "floor-ssh", kind: "floor", label: "(a) ssh, forced /bin/true, same sshd", run: ssh(FILE_PORT, node.keys.floorTrue, FLOOR_USER) },
    {
      id: "floor-exec",
      kind: "floor",
      label: "(b) docker exec <running> true",
      prepare: async () => {
        container = node.containerId() ?? "";
        if (!container) throw new Error("no running container for docker exec (the warm-up login should have made one)");
      },
      run: () => timeProgram("docker", ["exec", container, "true"]),
    },
    { id: "floor-run", kind: "floor", label: `(c) docker run --rm ${IMAGE} true`, run: () => timeProgram("docker", ["run", "--rm", IMAGE, "true"]) },
    { id: "floor-node", kind: "floor", label: "(d) node -e 0", run: () => timeProgram(process.execPath, ["-e", "0"]) },
    { id: "warm-file", kind: "ours", label: "warm login, file auth (ssh ... true)", run: warm },
    { id: "warm-command", kind: "ours", label: "warm login, command auth", run: ssh(COMMAND_PORT, node.keys.bench, BENCH_USER) },
    {
      id: "cold",
      kind: "ours",
      label: "cold login, first: no container, no network",
      prepare: async () => {
        await node.evict();
        await sleep(AFTER_EVICT_MS);
        await poolRefilled(node);
      },
      run: warm,
    },
    {
      // A registered project whose Podfile image is cached (built in the warm-up round), no
      // services, no hooks: what being a Podfile project costs a first login over the default.
      id: "cold-project",
      kind: "ours",
      label: "cold login, cached Podfile project (no services, no hooks)",
      prepare: coldPrepare,
      run: () => timeProgram("ssh", [...node.sshArgs(FILE_PORT, node.keys.bench), "-o", `SetEnv=PODSPAWN_PROJECT=${BENCH_PROJECT}`, `${BENCH_USER}@127.0.0.1`, "true"]),
    },
    {
      // podfiles/postgres.yaml: a postgres service (ready check) and on_create/on_start hooks.
      id: "cold-services",
      kind: "ours",
      label: "cold login, postgres example (service, readiness, hooks)",
      prepare: coldPrepare,
      run: () => timeProgram("ssh", [...node.sshArgs(FILE_PORT, node.keys.bench), "-o", `SetEnv=PODSPAWN_PROJECT=${BENCH_SERVICES_PROJECT}`, `${BENCH_USER}@127.0.0.1`, "true"]),
    },
    {
      // What a returning user meets after the grace period: the container is gone and the
      // network still lingers (network_linger). Removing the container behind the daemon's back
      // takes the same path through the daemon as the grace-period removal does.
      id: "cold-return",
      kind: "ours",
      label: "cold login, returning: no container, network kept",
      prepare: async () => {
        const id = node.containerId();
        if (id) await timeProgram("docker", ["rm", "-f", id]);
        await sleep(AFTER_EVICT_MS);
        await poolRefilled(node);
      },
      run: warm,
    },
    {
      id: "auth-keys",
      kind: "ours",
      label: "auth-keys alone (as the keys user)",
      run: () =>
        timeProgram(layout.command, ["auth-keys", BENCH_USER, node.benchKey.type, node.benchKey.base64], { ...asUser(node.keysAccount, {}), expectStdout: /^restrict,/ }),
    },
    {
      id: "spawn-alone",
      kind: "ours",
      label: "spawn alone (as the user, no ssh)",
      run: () => timeProgram(layout.command, ["spawn", "--user", BENCH_USER], asUser(node.benchAccount, { SSH_ORIGINAL_COMMAND: "true", USER: BENCH_USER, HOME: "/" })),
    },
    { id: "ssh-node", kind: "part", label: "ssh, forced `node -e 0`, same sshd", run: ssh(FILE_PORT, node.keys.floorNode, FLOOR_USER) },
    { id: "daemon-session", kind: "part", label: "daemon session alone (no Node start, no ssh)", run: () => timeDaemonSession(BENCH_USER) },
  ];
}

// ---- statistics ---------------------------------------------------------------------------

interface Stats {
  readonly n: number;
  readonly median: number;
  readonly p90: number;
  readonly min: number;
  readonly max: number;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, median: median(s), p90: percentile(s, 90), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

// ---- daemon log phases --------------------------------------------------------------------

interface Phases {
  /** Run start -> the daemon logs session-start (the exec is running in the container). */
  readonly toSessionStart: Stats;
  /** session-start -> the run ends (exit code fetched, frames relayed, ssh torn down). */
  readonly afterSessionStart: Stats;
  readonly matched: number;
}

interface LogEvent {
  readonly at: number;
  readonly kind: string;
  /** The `ms=` field, where the event has one (container-created). */
  readonly ms?: number;
}

/** The daemon's events about `user` appended to its log since `offset`. */
async function daemonEvents(offset: number, user: string): Promise<LogEvent[]> {
  const text = (await readFile(daemonLog)).subarray(offset).toString("utf8");
  const out: LogEvent[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+) (\S+) user=(\S+)(?:.* ms=(\d+))?/.exec(line);
    if (m && m[3] === user) out.push({ at: Date.parse(m[1] as string), kind: m[2] as string, ...(m[4] ? { ms: Number(m[4]) } : {}) });
  }
  return out;
}

/** The first event of `kind` inside the run (the log has millisecond resolution). */
function within(events: readonly LogEvent[], s: Sample, kind: string): LogEvent | undefined {
  return events.find((e) => e.kind === kind && e.at >= s.startedAt - 1 && e.at <= s.endedAt + 1);
}

/**
 * Where a cold login's time goes, from the daemon's own events: before the create (ssh, spawn,
 * ping, inspect, per-user network), the create (container, account files), the start, the exec.
 */
function coldPhases(samples: readonly Sample[], events: readonly LogEvent[]): Record<string, Stats> | undefined {
  const cols: Record<string, number[]> = { "start -> create begins": [], "create + account files (daemon ms)": [], "created -> started": [], "started -> session-start": [], "session-start -> end": [] };
  for (const s of samples) {
    const created = within(events, s, "container-created");
    const started = within(events, s, "container-started");
    const session = within(events, s, "session-start");
    if (!created || created.ms === undefined || !started || !session) continue;
    cols["start -> create begins"]?.push(created.at - created.ms - s.startedAt);
    cols["create + account files (daemon ms)"]?.push(created.ms);
    cols["created -> started"]?.push(started.at - created.at);
    cols["started -> session-start"]?.push(session.at - started.at);
    cols["session-start -> end"]?.push(s.endedAt - session.at);
  }
  if ((cols["created -> started"]?.length ?? 0) === 0) return undefined;
  return Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, stats(v)]));
}

function phases(samples: readonly Sample[], events: readonly LogEvent[]): Phases | undefined {
  const to: number[] = [];
  const after: number[] = [];
  for (const s of samples) {
    const t = within(events, s, "session-start")?.at;
    if (t === undefined) continue;
    to.push(t - s.startedAt);
    after.push(s.endedAt - t);
  }
  return to.length ? { toSessionStart: stats(to), afterSessionStart: stats(after), matched: to.length } : undefined;
}

// ---- machine ------------------------------------------------------------------------------

/** The first line a version command prints (stdout, else stderr: `ssh -V` uses stderr). */
function firstLine(cmd: string, args: readonly string[]): string {
  const r = $.sync({ quiet: true, nothrow: true })`${cmd} ${args}`;
  return (r.stdout.trim() || r.stderr.trim()).split("\n")[0] || "unknown";
}

function machine(): Record<string, string | number> {
  const sshV = firstLine("ssh", ["-V"]);
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    openssh: sshV,
    dockerClient: firstLine("docker", ["version", "--format", "{{.Client.Version}}"]),
    dockerServer: firstLine("docker", ["version", "--format", "{{.Server.Version}}"]),
    loadavg1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

// ---- report -------------------------------------------------------------------------------

interface Ratio {
  readonly name: string;
  readonly ours: string;
  readonly floors: readonly string[];
  readonly target?: number;
}

const RATIOS: readonly Ratio[] = [
  { name: "warm file / (a+b)", ours: "warm-file", floors: ["floor-ssh", "floor-exec"], target: 1.15 },
  { name: "warm command / (a+b)", ours: "warm-command", floors: ["floor-ssh", "floor-exec"], target: 1.15 },
  { name: "cold first / (a+c)", ours: "cold", floors: ["floor-ssh", "floor-run"], target: 1.0 },
  { name: "cold first / warm file", ours: "cold", floors: ["warm-file"], target: 1.15 },
  { name: "cold returning / (a+c)", ours: "cold-return", floors: ["floor-ssh", "floor-run"], target: 1.0 },
  { name: "cold project / cold default", ours: "cold-project", floors: ["cold"], target: 1.05 },
  { name: "cold postgres example / cold default", ours: "cold-services", floors: ["cold"] },
  { name: "auth-keys / (d)", ours: "auth-keys", floors: ["floor-node"], target: 1.5 },
  { name: "spawn alone / ((d)+(b))", ours: "spawn-alone", floors: ["floor-node", "floor-exec"] },
  { name: "ssh node -e 0 / ((a)+(d))", ours: "ssh-node", floors: ["floor-ssh", "floor-node"] },
];

interface Report {
  readonly machine: Record<string, string | number>;
  readonly runs: number;
  readonly variants: Record<string, { readonly kind: Kind; readonly label: string; readonly stats: Stats; readonly samplesMs: readonly number[] }>;
  readonly ratios: readonly { readonly name: string; readonly value: number; readonly target?: number; readonly met?: boolean; readonly missBy?: number }[];
  readonly breakdown: Record<string, number>;
  readonly phases: Record<string, Phases>;
  readonly coldPhases?: Record<string, Stats>;
}

function buildReport(variants: readonly Variant[], samples: Map<string, Sample[]>, runs: number, info: Record<string, string | number>, events: readonly LogEvent[]): Report {
  const phaseMap: Record<string, Phases> = {};
  for (const id of ["warm-file", "warm-command", "cold", "cold-return", "spawn-alone", "daemon-session"]) {
    const p = phases(samples.get(id) ?? [], events);
    if (p) phaseMap[id] = p;
  }
  const cold = coldPhases(samples.get("cold") ?? [], events);
  const out: Report["variants"] = {};
  for (const v of variants) {
    const ms = (samples.get(v.id) ?? []).map((s) => Math.round(s.ms * 10) / 10);
    out[v.id] = { kind: v.kind, label: v.label, stats: stats(ms), samplesMs: ms };
  }
  const med = (id: string): number => out[id]?.stats.median ?? NaN;
  const ratios = RATIOS.map((r) => {
    const value = med(r.ours) / r.floors.reduce((sum, f) => sum + med(f), 0);
    return r.target === undefined ? { name: r.name, value } : { name: r.name, value, target: r.target, met: value <= r.target, missBy: value - r.target };
  });
  const breakdown = {
    "ssh handshake + session + forced command (a)": med("floor-ssh"),
    "Node start under sshd (ssh-node - a)": med("ssh-node") - med("floor-ssh"),
    "podspawn over plain ssh (warm-file - a)": med("warm-file") - med("floor-ssh"),
    "spawn alone: Node start + client + daemon session": med("spawn-alone"),
    "daemon session alone (connect -> exit frame)": med("daemon-session"),
    "Node start + spawn client (spawn-alone - daemon-session)": med("spawn-alone") - med("daemon-session"),
    "Node start alone (d)": med("floor-node"),
    "docker exec CLI (b)": med("floor-exec"),
    "unexplained (warm-file - a - spawn-alone)": med("warm-file") - med("floor-ssh") - med("spawn-alone"),
    "command auth over file auth (warm-command - warm-file)": med("warm-command") - med("warm-file"),
  };
  return { machine: info, runs, variants: out, ratios, breakdown, phases: phaseMap, ...(cold ? { coldPhases: cold } : {}) };
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : "-");

function renderTable(r: Report): string {
  const lines: string[] = [];
  const m = r.machine;
  lines.push(`podspawn bench: ${r.runs} rounds, variants interleaved (order rotated each round), instance ${INSTANCE}`);
  lines.push(`machine: ${m["nproc"]} cpu (${m["cpu"]}), ${m["memoryGiB"]} GiB, kernel ${m["kernel"]}, node ${m["node"]}, ${m["openssh"]}, docker ${m["dockerServer"]} (client ${m["dockerClient"]}), load ${m["loadavg1m"]}`);
  lines.push("");
  const w = Math.max(...Object.values(r.variants).map((v) => v.label.length), 10);
  lines.push(`${"what".padEnd(w)}  ${"median".padStart(8)}  ${"p90".padStart(8)}  ${"min".padStart(8)}  ${"max".padStart(8)}   ms`);
  for (const kind of ["floor", "ours", "part"] as const) {
    for (const v of Object.values(r.variants).filter((x) => x.kind === kind)) {
      lines.push(`${v.label.padEnd(w)}  ${f1(v.stats.median).padStart(8)}  ${f1(v.stats.p90).padStart(8)}  ${f1(v.stats.min).padStart(8)}  ${f1(v.stats.max).padStart(8)}`);
    }
    lines.push("");
  }
  lines.push("ratios of medians:");
  for (const x of r.ratios) {
    const verdict = x.target === undefined ? "" : x.met ? `  target <= ${x.target.toFixed(2)}: met` : `  target <= ${x.target.toFixed(2)}: MISSED by ${(x.missBy ?? 0).toFixed(2)}`;
    lines.push(`  ${x.name.padEnd(28)} ${x.value.toFixed(2)}${verdict}`);
  }
  lines.push("");
  lines.push("where a warm login's time goes (medians, ms):");
  for (const [k, v] of Object.entries(r.breakdown)) lines.push(`  ${k.padEnd(58)} ${f1(v).padStart(7)}`);
  if (Object.keys(r.phases).length) {
    lines.push("");
    lines.push("daemon log session-start inside each run (median / p90 ms):");
    for (const [id, p] of Object.entries(r.phases)) {
      lines.push(`  ${id.padEnd(15)} start -> session-start ${f1(p.toSessionStart.median)} / ${f1(p.toSessionStart.p90)}, session-start -> end ${f1(p.afterSessionStart.median)} / ${f1(p.afterSessionStart.p90)} (${p.matched} runs)`);
    }
  }
  if (r.coldPhases) {
    lines.push("");
    lines.push("cold login from the daemon's events (median / p90 ms):");
    for (const [k, v] of Object.entries(r.coldPhases)) lines.push(`  ${k.padEnd(36)} ${f1(v.median).padStart(7)} / ${f1(v.p90)}`);
  }
  return lines.join("\n") + "\n";
}

// ---- main ---------------------------------------------------------------------------------

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: "string", default: String(DEFAULT_RUNS) }, json: { type: "boolean", default: false }, scale: { type: "boolean", default: false }, ...SECTION_FLAGS } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < MIN_RUNS) throw new Error(`--runs: expected an integer >= ${MIN_RUNS}, got ${JSON.stringify(values.runs)}`);
  const sections = parseSections(values);
  const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    log("interrupted: finishing the current run, then cleaning up");
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const info = machine();
  const node = await startBenchNode(log);
  try {
    const extra = await runSections(node, sections, log);
    if (!sections.login) {
      writeSections(extra, values.json);
      return;
    }
    const variants = defineVariants(node);
    const measure = async (v: Variant): Promise<Sample> => {
      if (v.prepare) await v.prepare();
      await sleep(SETTLE_MS);
      const startedAt = Date.now();
      const ms = await v.run();
      return { ms, startedAt, endedAt: Date.now() };
    };
    log("warm-up: one untimed round (creates the container, fills caches)");
    // The warm login first: docker exec needs the container it creates.
    const byId = new Map(variants.map((v) => [v.id, v]));
    for (const v of [byId.get("warm-file"), ...variants]) if (v) await measure(v);

    const logOffset = (await stat(daemonLog)).size;
    const samples = new Map<string, Sample[]>(variants.map((v) => [v.id, []]));
    for (let round = 0; round < runs && !interrupted; round++) {
      const k = round % variants.length;
      const order = [...variants.slice(k), ...variants.slice(0, k)];
      for (const v of order) {
        if (interrupted) break;
        samples.get(v.id)?.push(await measure(v));
      }
      log(`round ${round + 1}/${runs} done`);
    }
    if (interrupted) {
      process.exitCode = 130;
      return;
    }

    const events = await daemonEvents(logOffset, BENCH_USER);
    const report = buildReport(variants, samples, runs, info, events);
    const poolCost = await idlePooledCost(node);
    // With --json the table still goes to stderr, so one run gives both.
    if (values.json) {
      process.stderr.write(renderTable(report) + poolCost + extra.text);
      process.stdout.write(JSON.stringify({ ...report, ...extra.json }, null, 2) + "\n");
    } else {
      process.stdout.write(renderTable(report) + poolCost + extra.text);
    }
  } finally {
    log("cleaning up (sshds, daemon, containers, accounts)");
    await node.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  if (values.scale && !interrupted) {
    const scale = await runScaleBench((line) => log(`scale: ${line}`));
    if (values.json) {
      process.stderr.write(renderScale(scale));
      process.stdout.write(JSON.stringify({ scale }, null, 2) + "\n");
    } else {
      process.stdout.write("\n" + renderScale(scale));
    }
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import type { NodeConfig } from "../../core/config/node-config.js";
import type { ExecPlan } from "../../core/container/exec-plan.js";
import { decideDirectIo } from "../../core/direct-io/direct-decision.js";
import type { StdioOffer } from "../../core/protocol/stdio-offer.js";
import { engineRuntimeProblem, runcVersionProblem, type EngineRuntimeFacts, type RuncTarget } from "../../core/direct-io/runc-exec-args.js";
import { claimStdio } from "../../adapters/proc/claimed-stdio.js";
import { startRuncExec, type DirectProcess } from "../../adapters/runc/runc-exec.js";
import { killSessionProcesses, type SessionProcesses } from "../../adapters/proc/session-processes.js";
import { readTextOrNull } from "../../adapters/process/process-identity.js";
import { runProcess, type RunProcess } from "../../adapters/process/run-process.js";
import type { Logger } from "../log.js";

export interface DirectIoDeps {
  readonly config: () => NodeConfig;
  readonly log: Logger;
  /** Root-only: runc's pid files and log live here. */
  readonly runDir: string;
  /** `docker info`, in our words. */
  readonly engineFacts: () => Promise<EngineRuntimeFacts>;
  /** The host account's uid (the socket's user), or null. @default read from /etc/passwd */
  readonly uidOf?: (user: string) => number | null;
  readonly run?: RunProcess;
}

export interface DirectRequest {
  readonly session: number;
  readonly user: string;
  readonly offer: StdioOffer;
  readonly plan: ExecPlan;
  readonly containerId: string;
}

const RUNC_CANDIDATES = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"];
const VERSION_TIMEOUT_MS = 5000;

/**
 * The direct stdio path (docs/architecture.md): decides per session, claims spawn's pipes, and
 * runs the process with them through runc. Any failed check is the engine path, with a log line
 * for the admin and nothing for the user. The engine is probed once, at daemon start.
 */
export class DirectIo {
  private engineProblem: string | null = "the engine's runtime was not probed yet";
  private runc: string | null = null;
  private target: RuncTarget | null = null;
  /** The sessions running on the direct path now, for a daemon that stops (endAll). */
  private readonly live = new Set<DirectProcess>();
  /** The node binary spawn runs under: the daemon's own (one install, one wrapper, one node). */
  private readonly nodeExe = readlinkSync("/proc/self/exe");

  constructor(private readonly deps: DirectIoDeps) {}

  async probe(): Promise<void> {
    this.engineProblem = await this.findProblem().catch((err: unknown) => `probing the engine failed: ${String(err)}`);
    if (this.engineProblem !== null && this.deps.config().directIo.mode !== "off") {
      this.deps.log({ kind: "warning", message: `direct stdio off, sessions use the engine path: ${this.engineProblem}` });
    }
  }

  private async findProblem(): Promise<string | null> {
    const { directIo } = this.deps.config();
    const facts = await this.deps.engineFacts();
    const engine = engineRuntimeProblem(facts);
    if (engine !== null) return engine;
    const runc = directIo.runc ?? RUNC_CANDIDATES.find((p) => existsSync(p)) ?? null;
    if (runc === null) return `no runc binary in ${RUNC_CANDIDATES.join(", ")} (set direct_io.runc)`;
    const version = await (this.deps.run ?? runProcess)(runc, ["--version"], { timeoutMs: VERSION_TIMEOUT_MS });
    const tooOld = version.code === 0 ? runcVersionProblem(version.stdout) : `${runc} --version failed`;
    if (tooOld !== null) return tooOld;
    if (!existsSync(directIo.runcRoot)) return `runc state dir ${directIo.runcRoot} does not exist (set direct_io.runc_root)`;
    const dir = `${this.deps.runDir}/direct`;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.sweepOrphans(dir);
    this.runc = runc;
    this.target = { root: directIo.runcRoot, systemdCgroup: facts.cgroupDriver === "systemd", logFile: `${dir}/runc.log` };
    return null;
  }

  /**
   * The process running on the client's own pipes, or null: then the caller takes the engine path
   * (also when runc could not start it: nothing of the user's was read or written yet).
   */
  async open(r: DirectRequest): Promise<DirectProcess | null> {
    const decision = decideDirectIo({ mode: this.deps.config().directIo.mode, offer: r.offer, plan: r.plan, engineProblem: this.containerProblem(r.containerId) });
    if (!decision.direct) return this.fallBack(r, decision.quiet ? null : decision.reason);
    const uid = (this.deps.uidOf ?? passwdUid)(r.user);
    if (uid === null) return this.fallBack(r, `no host account ${r.user}`);
    const claim = claimStdio(r.offer.pid, { uid, exe: this.nodeExe, startTime: r.offer.startTime });
    if (!claim.ok) return this.fallBack(r, `pid ${r.offer.pid}: ${claim.reason}`);
    const pidFile = `${this.deps.runDir}/direct/${r.session}-${process.hrtime.bigint()}.pid`;
    const started = await startRuncExec({ runc: this.runc as string, target: this.target as RuncTarget, containerId: r.containerId, plan: r.plan, pidFile, fds: claim.fds });
    if (!started.ok) return this.fallBack(r, started.reason);
    const proc = started.process;
    this.live.add(proc);
    void proc.exited.then(() => this.live.delete(proc));
    return proc;
  }

  /**
   * The daemon stops: end every direct session now, as a forced end does (the holders of the
   * user's pipes, then the guard let go). Otherwise the guards would see the daemon's sockets
   * close and kill their whole groups, a `nohup server &` of the session too.
   */
  endAll(): void {
    for (const proc of this.live) proc.kill();
    this.live.clear();
  }

  /**
   * A daemon that died (SIGKILL, a crash) left its direct sessions' records: each session's
   * guard has killed its process group, but a child that left the group could still hold the
   * user's pipes (and the user's ssh). Those are ended here, at the next start, before any login.
   */
  private sweepOrphans(dir: string): void {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.endsWith(".session.json")) {
        const record = sessionRecordOf(readTextOrNull(`${dir}/${name}`) ?? "");
        const killed = record === null ? 0 : killSessionProcesses(record);
        if (killed > 0) this.deps.log({ kind: "warning", message: `direct stdio: ended ${killed} process(es) a session of the previous daemon left holding its user's pipes` });
      }
      if (name.endsWith(".session.json") || name.endsWith(".pid")) rmSync(`${dir}/${name}`, { force: true });
    }
  }

  /** runc knows the container only if the engine runs it with this runc (not runsc, not another root). */
  private containerProblem(containerId: string): string | null {
    if (this.engineProblem !== null || this.target === null) return this.engineProblem ?? "no runc";
    if (!/^[0-9a-f]{64}$/.test(containerId)) return `container id ${JSON.stringify(containerId)} is not a full id`;
    return existsSync(`${this.target.root}/${containerId}/state.json`) ? null : "the container is not in runc's state dir (another runtime, e.g. gVisor)";
  }

  private fallBack(r: DirectRequest, reason: string | null): null {
    if (reason !== null) this.deps.log({ kind: "direct-io-fallback", sessionId: r.session, user: r.user, reason });
    return null;
  }
}

/** The uid of `user` in /etc/passwd, or null. */
export function passwdUid(user: string, file = "/etc/passwd"): number | null {
  try {
    const line = readFileSync(file, "utf8").split("\n").find((l) => l.split(":")[0] === user);
    const uid = Number(line?.split(":")[2]);
    return line !== undefined && Number.isInteger(uid) && uid >= 0 ? uid : null;
  } catch {
    return null;
  }
}

/** A record as runc-exec wrote it, or null for anything else (then nothing is killed). */
export function sessionRecordOf(text: string): SessionProcesses | null {
  try {
    const v = JSON.parse(text) as { pidNs?: unknown; pipeInodes?: unknown };
    const inodes = Array.isArray(v.pipeInodes) ? v.pipeInodes : [];
    if (typeof v.pidNs !== "string" || !/^pid:\[\d+\]$/.test(v.pidNs) || inodes.length !== 3 || !inodes.every((i) => Number.isSafeInteger(i) && (i as number) > 0)) return null;
    return { pidNs: v.pidNs, pipeInodes: inodes as number[] };
  } catch {
    return null;
  }
}

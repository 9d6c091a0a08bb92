import { mkdir, readFile, rm, stat, writeFile, watch } from "node:fs/promises";
import type { Server } from "node:net";
import { containerName } from "../core/container/container-spec.js";
import type { Layout } from "../core/host/layout.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../core/config/node-config.js";
import type { ContainerRuntime } from "../core/ports/container-runtime.js";
import type { ContainerSockets } from "../core/ports/container-sockets.js";
import { loadNodeConfig } from "../adapters/fs/node-config-file.js";
import { AuditLog } from "../adapters/fs/audit-log.js";
import { listRegistryUsers } from "../adapters/fs/user-registry.js";
import { drainFile, loadDrainState, saveDrainState } from "../adapters/fs/drain-file.js";
import { DrainGate } from "./environments/drain-gate.js";
import { listenControl, type ControlHandlers } from "./control/control-server.js";
import { Environments } from "./environments/environments.js";
import type { Logger } from "./log.js";
import { EgressFirewall } from "../adapters/firewall/egress-firewall.js";
import { probeRunc } from "../adapters/process/runc-probe.js";
import { RuncGate } from "./runc-gate.js";
import { egressRules, resolversOf } from "../core/net/egress-rules.js";
import { DaemonMetrics, metricsLogger } from "./control/metrics.js";
import { describeListen, listenMetrics, type MetricsServer } from "./control/metrics-http.js";
import { handleSession } from "./session/session.js";
import { makeWatchExit } from "./session/exit-notice.js";
import { memoryCgroup } from "../adapters/cgroup/memory-cgroup.js";
import { listEnvironments } from "./control/list-environments.js";
import { stopForAdmin } from "./control/stop-environments.js";
import { LiveSessions } from "./live-sessions.js";
import { ImageBuilds } from "./projects/image-builds.js";
import { Planner } from "./projects/planner.js";
import { fsProjectRegistry } from "../adapters/fs/project-registry.js";
import type { ImageBuilder } from "../core/ports/image-builder.js";
import { UserSockets } from "./user-sockets.js";
import { CoalescedRun } from "../support/coalesced-run.js";
import { hostCaDir, openHostCa, type HostCa } from "../adapters/ssh/host-ca.js";
import { readUserKeys } from "../adapters/fs/user-registry.js";
import { InnerSshd } from "./session/inner-sshd-channel.js";
import { DirectIo } from "./direct-io/direct-io.js";
import type { EngineRuntimeFacts } from "../core/direct-io/runc-exec-args.js";

export interface DaemonOptions {
  readonly layout: Layout;
  readonly runtime: ContainerRuntime;
  readonly builder: ImageBuilder;
  readonly log: Logger;
  /** Re-scan the registry this often even without a notification. @default 10 s */
  readonly rescanMs?: number;
  /** Where forwarded agents' sockets are made in containers. @default none: ssh -A gives no agent */
  readonly sockets?: ContainerSockets;
  /**
   * The engine's runtimes (`docker info`): with it, sessions without a terminal on runc may take
   * the direct stdio path. @default absent: every session takes the engine path
   */
  readonly engineFacts?: () => Promise<EngineRuntimeFacts>;
}

/** What a user whose session the daemon ends by stopping reads; their container stays. */
export const DAEMON_STOPPING_MESSAGE = "the session service on this node stopped (a restart or an upgrade); your environment is kept: log in again in a moment";

/** The running node daemon. `start()` returns once every socket is listening. */
export class Daemon {
  private config: NodeConfig = DEFAULT_NODE_CONFIG;
  private control: Server | null = null;
  private metricsServer: MetricsServer | null = null;
  private readonly metrics = new DaemonMetrics();
  /** The caller's logger behind one that counts events for the metrics. */
  readonly log: Logger;
  private readonly sockets: UserSockets;
  private readonly live = new LiveSessions();
  readonly environments: Environments;
  private rescan: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private readonly reloads = new CoalescedRun(() => this.reloadOnce());
  private readonly drain: DrainGate;
  private hostCaOpening: Promise<HostCa> | null = null;
  private resolvers: readonly string[] = [];
  private readonly runc = new RuncGate({ probe: () => probeRunc(), accepted: () => this.config.acceptRuncAdvisories, sessionRuntime: () => this.config.ociRuntime });
  private runcProblem: string | null = null;
  private readonly egress = new EgressFirewall({ rules: () => egressRules({ ...this.config.network, resolvers: this.resolvers }) });
  private readonly directIo: DirectIo | null;

  constructor(private readonly opts: DaemonOptions) {
    const { layout, runtime } = opts;
    this.log = metricsLogger(this.metrics, opts.log);
    const log = this.log;
    const drainState = drainFile(layout.stateDir);
    this.drain = new DrainGate({ load: () => loadDrainState(drainState), save: (s) => saveDrainState(drainState, s) });
    this.environments = new Environments({ instance: layout.instance, runtime, config: () => this.config, log, podIdOf: (user) => this.sockets.podIdOf(user), refuseNew: () => this.drain.refusal() });
    const builds = new ImageBuilds({ builder: opts.builder, logDir: layout.buildLogsDir, timeoutMs: () => this.config.buildTimeoutMs, log });
    const projects = fsProjectRegistry(layout.projectsDir);
    const planner = new Planner({ instance: layout.instance, config: () => this.config, project: (name) => projects.read(name), builds, runcGate: (what) => this.runc.require(what) });
    const auditLog = new AuditLog({ path: `${layout.stateDir}/audit.log`, onError: (err) => log({ kind: "error", code: "audit-write", message: "audit record not written", detail: String(err) }) });
    const audit = (record: Record<string, unknown>): void => auditLog.write(record);
    const watchExit = makeWatchExit({ runtime, instance: layout.instance, memory: memoryCgroup() });
    const innerSshd = new InnerSshd({ instance: layout.instance, hostCa: () => this.hostCa(), keysOf: async (user) => (await readUserKeys(layout, user)) ?? [] });
    this.directIo = opts.engineFacts ? new DirectIo({ config: () => this.config, log, runDir: layout.runDir, engineFacts: opts.engineFacts }) : null;
    const directIo = this.directIo ?? undefined;
    const sessionDeps = { runtime, environments: this.environments, planner, config: () => this.config, log, audit, watchExit, innerSshd, directIo, egress: () => this.egress.require(), runcGate: (what: "session" | "project") => this.runc.require(what), ...(opts.sockets ? { sockets: opts.sockets } : {}) };
    this.sockets = new UserSockets(layout, (socket, user) => void this.live.track(handleSession(socket, user, sessionDeps), socket), log);
  }

  /** The config in force (the engine adapter reads its deadlines from it at every call). */
  get nodeConfig(): NodeConfig {
    return this.config;
  }

  async start(): Promise<void> {
    const { layout, runtime } = this.opts;
    this.config = await loadNodeConfig(layout.configFile);
    await mkdir(layout.runDir, { recursive: true, mode: 0o755 });
    await mkdir(layout.stateDir, { recursive: true, mode: 0o700 });
    let recovered = 0;
    try {
      await runtime.ping();
      await this.directIo?.probe();
      recovered = await this.environments.recover();
    } catch (err) {
      this.log({ kind: "warning", message: `container engine not reachable at start; sessions will fail until it is: ${String(err)}` });
    }
    const drained = await this.drain.load();
    if (drained.drained) this.log({ kind: "warning", message: `node is drained since ${drained.since ?? "?"}${drained.reason ? ` (${drained.reason})` : ""}: no new environments until 'podspawn undrain'` });
    // The IDE mode's CA is made now, so its public key is there to publish before any session.
    await this.hostCa().catch((err: unknown) => this.log({ kind: "error", code: "host-ca", message: "host CA not available; IDE-mode sessions will fail until it is", detail: String(err) }));
    await this.reload();
    this.control = await listenControl(layout.controlSocket, this.controlHandlers());
    const listen = this.config.metricsListen;
    if (listen) {
      // Metrics are an extra: a busy port must not keep users from their sessions.
      this.metricsServer = await listenMetrics(listen, () => this.metricsText()).catch((err: unknown) => {
        this.log({ kind: "error", code: "metrics-listen", message: `metrics not served on ${describeListen(listen)}`, detail: String(err) });
        return null;
      });
    }
    await writeFile(layout.pidFile, `${process.pid}\n`, { mode: 0o644 });
    this.rescan = setInterval(() => void this.reload(), this.opts.rescanMs ?? 10_000);
    this.rescan.unref();
    void this.watchRegistry();
    this.log({ kind: "started", instance: layout.instance, users: this.sockets.users().length, containers: recovered });
  }

  /** The node's host CA for inner sshd certificates, opened once (a failed open is retried next time). */
  hostCa(): Promise<HostCa> {
    this.hostCaOpening ??= openHostCa(hostCaDir(this.opts.layout.stateDir), `podspawn host CA (${this.opts.layout.instance})`).catch((err: unknown) => {
      this.hostCaOpening = null;
      throw err;
    });
    return this.hostCaOpening;
  }

  private controlHandlers(): ControlHandlers {
    const { layout, runtime } = this.opts;
    return {
      reload: () => this.reload(),
      environments: this.environments,
      containerName: (u, p) => containerName(layout.instance, u, p),
      metrics: () => this.metricsText(),
      listEnvironments: () => listEnvironments({ instance: layout.instance, environments: () => this.environments.list(), runtime, config: () => this.config }),
      stopEnvironments: (req) => stopForAdmin(req, { sessions: this.live, environments: this.environments, isRegistered: async (u) => (await listRegistryUsers(layout)).includes(u) }),
      addressPool: () => this.environments.addressPool(),
      drainGate: this.drain,
    };
  }

  /**
   * Re-read config and the key registry, one run at a time, with the triggers that come while a
   * run waits joining it: a `sync` of 100 users changes 200 registry files, each an fs-watch
   * event, and one engine-listing reload per event kept admin commands waiting for seconds.
   */
  reload(): Promise<void> {
    return this.reloads.run();
  }

  private async reloadOnce(): Promise<void> {
    try {
      this.config = await loadNodeConfig(this.opts.layout.configFile);
    } catch (err) {
      this.log({ kind: "error", code: "config-reload", message: "config not reloaded, keeping the previous one", detail: String(err) });
    }
    await this.ensureEgress();
    await this.checkRunc();
    await this.sockets.sync().catch((err: unknown) => this.log({ kind: "error", code: "socket-sync", message: "user socket sync failed", detail: String(err) }));
    await this.evictUnregistered().catch((err: unknown) => this.log({ kind: "error", code: "eviction", message: "cleanup of unregistered users failed", detail: String(err) }));
    // In the background: a changed spec or a moved image tag drains the pool, and it refills.
    void this.environments.pool.refill();
  }

  /** Re-asserted on every reload (Docker recreates DOCKER-USER when it restarts); sessions wait on it. */
  private async ensureEgress(): Promise<void> {
    this.resolvers = resolversOf(await readFile("/etc/resolv.conf", "utf8").catch(() => ""));
    const problem = await this.egress.ensure();
    if (problem !== null) this.log({ kind: "error", code: "egress-firewall", message: "egress firewall rules not in place: sessions are refused until they are", detail: problem });
  }

  /** Logged when the answer changes (a reload runs every few seconds). */
  private async checkRunc(): Promise<void> {
    const problem = await this.runc.check();
    if (problem !== null && problem !== this.runcProblem) this.log({ kind: "error", code: "runc-vulnerable", message: "runc has open container escapes: sessions (or project environments) are refused until it is upgraded or they are accepted", detail: problem });
    this.runcProblem = problem;
  }

  /**
   * remove-user asks the daemon to evict, but a user removed while the daemon was down (or by
   * hand) would keep containers and a home volume that a later account of that name could get.
   * Only when the registry directory exists: a missing one is a broken install, not "no users".
   */
  private async evictUnregistered(): Promise<void> {
    if (!(await stat(this.opts.layout.usersDir).then((s) => s.isDirectory(), () => false))) return;
    const gone = await this.environments.evictUnregistered(new Set(await listRegistryUsers(this.opts.layout)));
    if (gone.length > 0) this.log({ kind: "warning", message: `removed the containers and home volumes of users no longer registered: ${gone.join(", ")}` });
  }

  /** The Prometheus text exposition, with the gauges read now. */
  metricsText(): string {
    const { pool } = this.environments;
    return this.metrics.render({ environments: this.environments.list(), usersListening: this.sockets.users().length, addressPool: this.environments.addressPool(), pool: { idle: pool.idleCount(), filling: pool.fillingCount() } });
  }

  private async watchRegistry(): Promise<void> {
    try {
      for await (const _ of watch(this.opts.layout.usersDir, { signal: this.abort.signal })) void this.reload();
    } catch {
      /* aborted, or the dir does not exist yet: the periodic rescan covers it */
    }
  }

  /** Stop listening. Containers stay: a restarted daemon adopts them from their labels. */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.rescan) clearInterval(this.rescan);
    // Closing a listener waits for its connections: tell each live session (one line) and end it.
    const closing = this.sockets.close();
    await this.live.endAll(DAEMON_STOPPING_MESSAGE, 2000);
    this.directIo?.endAll();
    await closing;
    if (this.control) await new Promise<void>((resolve) => this.control?.close(() => resolve()));
    await this.metricsServer?.close();
    await rm(this.opts.layout.pidFile, { force: true });
    await rm(this.opts.layout.controlSocket, { force: true });
  }
}

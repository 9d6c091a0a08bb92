import Docker from "dockerode";
import { request as httpRequest } from "node:http";
import type { Duplex } from "node:stream";
import { LABEL, type ContainerSpec, type NetworkSpec } from "../../core/container/container-spec.js";
import { NO_NETWORK } from "../../core/container/pool-spec.js";
import { UserFacingError } from "../../core/errors.js";
import { SCRATCH_BYTES, type ServiceContainerSpec } from "../../core/podfile/service-container.js";
import { identify, signalIfSame, type ProcessIdentity } from "../process/process-identity.js";
import type { ExecPlan } from "../../core/container/exec-plan.js";
import { blockOf, firstHost, formatCidr, type Cidr } from "../../core/net/cidr.js";
import { packTar, readTarFiles, type TarEntry } from "../../support/tar.js";
import { NetworkInUse, SubnetTaken, type ContainerRuntime, type EngineNetwork, type ExecSession, type ManagedContainer, type ManagedNetwork } from "../../core/ports/container-runtime.js";
import { applyDeadlines, DEFAULT_ENGINE_TIMEOUTS, engineCallOf, EngineTimeout, withDeadline, type DeadlineOptions, type EngineTimeouts } from "./engine-deadline.js";
import { execOutputs } from "./exec-streams.js";
import type { InitProcessOf } from "./container-pid.js";
import { entryPathProblem, ProcRootWriter } from "./proc-root-writer.js";
import type { EngineRuntimeFacts } from "../../core/direct-io/runc-exec-args.js";

function statusCode(err: unknown): number | undefined {
  return typeof err === "object" && err !== null ? (err as { statusCode?: number }).statusCode : undefined;
}

function toManaged(c: { Id: string; Names?: string[]; Name?: string; Labels?: Record<string, string>; running: boolean; createdMs: number }): ManagedContainer {
  const labels = c.Labels ?? {};
  const name = (c.Name ?? c.Names?.[0] ?? "").replace(/^\//, "");
  return { id: c.Id, name, user: labels[LABEL.user] ?? "", project: labels[LABEL.project] ?? "", running: c.running, specHash: labels[LABEL.specHash] ?? "", createdMs: c.createdMs, labels };
}

/** The engine's words when a container started since our check (403 on engine 20.10). */
const ACTIVE_ENDPOINTS = /has active endpoints/i;

/** The engine's words when a requested subnet overlaps a network it has (403 on engine 20.10). */
const POOL_OVERLAP = /pool overlaps/i;

function ipamSubnets(ipam: { Config?: { Subnet?: string }[] | null } | undefined): Cidr[] {
  return (ipam?.Config ?? []).map((c) => blockOf(c.Subnet ?? "")).filter((c): c is Cidr => c !== null);
}

export interface DockerRuntimeOptions {
  /** @default "/var/run/docker.sock" */
  readonly socketPath?: string;
  /** Read at every call, so a config reload applies at once. @default 30 s, 10 s for ping/inspect/list */
  readonly timeouts?: () => EngineTimeouts;
  readonly onTimeout?: (call: string, ms: number) => void;
  /** Told how each writeFiles went: straight through /proc/<pid>/root, or the archive and why. */
  readonly onWrite?: (event: FileWriteEvent) => void;
  /** Where the direct writer finds a container's init. @default this runtime's initProcess */
  readonly initProcessOf?: InitProcessOf;
}

export type FileWriteEvent =
  | { readonly container: string; readonly via: "direct" }
  | { readonly container: string; readonly via: "archive"; readonly reason: string; readonly partial: boolean };

/**
 * The hardening every container we create has, dev containers and companion services alike: one
 * place, so the two kinds cannot drift apart. Tini reaps orphans; no capability but those the
 * spec adds after dropping all; no privilege gain; limits on pids, memory (no swap beyond it) and
 * CPU; a private IPC namespace; never restarted by the engine (the daemon decides).
 */
function hardening(spec: Pick<ContainerSpec, "capAdd" | "pidsLimit" | "memoryBytes" | "cpus" | "ociRuntime">) {
  return {
    Init: true,
    CapDrop: ["ALL"],
    CapAdd: [...spec.capAdd],
    SecurityOpt: ["no-new-privileges:true"],
    PidsLimit: spec.pidsLimit,
    Memory: spec.memoryBytes,
    MemorySwap: spec.memoryBytes,
    NanoCpus: Math.round(spec.cpus * 1e9),
    IpcMode: "private",
    Privileged: false,
    RestartPolicy: { Name: "no" },
    Runtime: spec.ociRuntime,
  };
}

export class DockerRuntime implements ContainerRuntime {
  private readonly docker: Docker;
  private readonly socketPath: string;
  private readonly deadlines: DeadlineOptions;
  private readonly direct: ProcRootWriter;
  private readonly onWrite: (event: FileWriteEvent) => void;

  /** A string is the socket path, with the default deadlines. */
  constructor(options: DockerRuntimeOptions | string = {}) {
    const opts = typeof options === "string" ? { socketPath: options } : options;
    this.socketPath = opts.socketPath ?? "/var/run/docker.sock";
    this.deadlines = { timeouts: opts.timeouts ?? (() => DEFAULT_ENGINE_TIMEOUTS), ...(opts.onTimeout ? { onTimeout: opts.onTimeout } : {}) };
    this.docker = new Docker({ socketPath: this.socketPath });
    applyDeadlines(this.docker.modem, this.deadlines);
    this.direct = new ProcRootWriter(opts.initProcessOf ?? ((id) => this.initProcess(id)));
    this.onWrite = opts.onWrite ?? (() => undefined);
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      // A hung engine is not a stopped one: keep the line that says how long we waited.
      if (err instanceof EngineTimeout) throw err;
      throw new UserFacingError("docker-down", "the container engine on this node is not answering", String(err));
    }
  }

  /**
   * The engine's runtimes and cgroup driver (`docker info`), for the direct stdio path. Not on the
   * port: only the daemon's composition root asks, once, to decide whether runc can be used.
   */
  async runtimeFacts(): Promise<EngineRuntimeFacts> {
    const info = (await this.docker.info()) as { DefaultRuntime?: string; Runtimes?: Record<string, { path?: string }>; CgroupDriver?: string; SecurityOptions?: string[] };
    const runtimes: Record<string, string> = {};
    for (const [name, r] of Object.entries(info.Runtimes ?? {})) runtimes[name] = r.path ?? "";
    return { defaultRuntime: info.DefaultRuntime ?? "", runtimes, cgroupDriver: info.CgroupDriver ?? "", securityOptions: info.SecurityOptions ?? [] };
  }

  async imageId(image: string): Promise<string | null> {
    try {
      return (await this.docker.getImage(image).inspect()).Id;
    } catch (err) {
      if (statusCode(err) === 404) return null;
      throw err;
    }
  }

  async listManaged(instance: string): Promise<ManagedContainer[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`, `${LABEL.instance}=${instance}`] } });
    return list.map((c) => toManaged({ ...c, running: c.State === "running", createdMs: c.Created * 1000 }));
  }

  async inspectByName(name: string): Promise<ManagedContainer | null> {
    try {
      const info = await this.docker.getContainer(name).inspect();
      return toManaged({ Id: info.Id, Name: info.Name, Labels: info.Config.Labels, running: info.State.Running, createdMs: Date.parse(info.Created) });
    } catch (err) {
      if (statusCode(err) === 404) return null;
      throw err;
    }
  }

  async ensureNetwork(spec: NetworkSpec): Promise<boolean> {
    const found = await this.docker.listNetworks({ filters: { name: [spec.name] } });
    const exact = found.filter((n) => n.Name === spec.name);
    // Engine < 25 can end up with duplicate names after concurrent creates by other clients; keep one.
    for (const extra of exact.slice(1)) await this.docker.getNetwork(extra.Id).remove().catch(() => undefined);
    if (exact.length > 0) return false;
    try {
      await this.docker.createNetwork({
        Name: spec.name,
        Driver: "bridge",
        CheckDuplicate: true,
        Labels: { ...spec.labels },
        // Our own pool, not the engine's defaults (about 30 networks per engine).
        ...(spec.subnet ? { IPAM: { Driver: "default", Config: [{ Subnet: formatCidr(spec.subnet), Gateway: firstHost(spec.subnet) }] } } : {}),
        // A user network: no container-to-container traffic on the bridge, even between one user's
        // own containers. A services network: no way out (Internal), and its containers talk.
        ...(spec.internal ? { Internal: true } : { Options: { "com.docker.network.bridge.enable_icc": "false" } }),
      });
    } catch (err) {
      if (POOL_OVERLAP.test(String(err))) throw new SubnetTaken(`${spec.subnet ? formatCidr(spec.subnet) : "the default pool"} overlaps a network the engine has: ${String(err)}`);
      throw err;
    }
    return true;
  }

  async engineNetworks(): Promise<EngineNetwork[]> {
    const nets = await this.docker.listNetworks();
    return nets.map((n) => ({ name: n.Name, instance: n.Labels?.[LABEL.managed] === "true" ? (n.Labels[LABEL.instance] ?? null) : null, subnets: ipamSubnets(n.IPAM) }));
  }

  async removeNetwork(name: string): Promise<void> {
    // The engine's own check counts running containers only (its active endpoints).
    const attached = await this.docker.listContainers({ all: true, filters: { network: [name] } });
    if (attached.length > 0) throw new NetworkInUse(name, attached.map((c) => (c.Names[0] ?? c.Id).replace(/^\//, "")));
    try {
      await this.docker.getNetwork(name).remove();
    } catch (err) {
      if (statusCode(err) === 404) return;
      if (ACTIVE_ENDPOINTS.test(String(err))) throw new NetworkInUse(name, []);
      throw err;
    }
  }

  async listNetworks(instance: string): Promise<ManagedNetwork[]> {
    const nets = await this.docker.listNetworks({ filters: { label: [`${LABEL.managed}=true`, `${LABEL.instance}=${instance}`] } });
    return nets.map((n) => ({ name: n.Name, labels: n.Labels ?? {} }));
  }

  async create(spec: ContainerSpec): Promise<string> {
    let c: Docker.Container;
    try {
      c = await this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Hostname: spec.hostname,
        Labels: { ...spec.labels },
        // Keep-alive process; tini (Init) reaps whatever the sessions leave behind.
        Entrypoint: ["sleep"],
        Cmd: ["infinity"],
        User: spec.keepAliveUser,
        Tty: false,
        OpenStdin: false,
        NetworkDisabled: false,
        HostConfig: {
          NetworkMode: spec.network,
          ...hardening(spec),
          ReadonlyRootfs: false,
          LogConfig: { Type: "none", Config: {} },
          // Never a host path and never the Docker socket: at most the user's own named home volume.
          Mounts: spec.homeVolume ? [{ Type: "volume", Source: spec.homeVolume.name, Target: spec.homeVolume.target, ReadOnly: false, VolumeOptions: { NoCopy: false, Labels: { ...spec.homeVolume.labels }, DriverConfig: { Name: "local", Options: {} } } }] : [],
        },
      });
    } catch (err) {
      // One round trip instead of an inspect first: the engine says 404 "No such image".
      if (statusCode(err) === 404 && /no such image/i.test(String(err))) throw new UserFacingError("image-missing", `the environment image ${spec.image} is not available on this node`, "build it with scripts/build-image or pull it");
      throw err;
    }
    return c.id;
  }

  async createService(spec: ServiceContainerSpec): Promise<string> {
    try {
      const c = await this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Hostname: spec.alias,
        Labels: { ...spec.labels },
        Env: [...spec.env],
        Tty: false,
        OpenStdin: false,
        // Nothing published on the host: the dev container reaches it over the services network.
        ExposedPorts: {},
        NetworkingConfig: { EndpointsConfig: { [spec.network]: { Aliases: [spec.alias] } } },
        HostConfig: {
          NetworkMode: spec.network,
          PublishAllPorts: false,
          PortBindings: {},
          ...hardening(spec),
          ReadonlyRootfs: true,
          Tmpfs: Object.fromEntries(spec.scratch.map((p) => [p, `rw,nosuid,nodev,noexec,mode=1777,size=${SCRATCH_BYTES}`])),
          LogConfig: { Type: "json-file", Config: { "max-size": "1m", "max-file": "1" } },
          Mounts: spec.volumes.map((v) => ({ Type: "volume" as const, Source: v.name, Target: v.target, ReadOnly: v.readOnly, VolumeOptions: { NoCopy: false, Labels: { ...v.labels }, DriverConfig: { Name: "local", Options: {} } } })),
        },
      });
      return c.id;
    } catch (err) {
      if (statusCode(err) === 404 && /no such image/i.test(String(err))) throw new UserFacingError("image-missing", `the service image ${spec.image} is not available on this node`, "build it with scripts/build-image or pull it");
      throw err;
    }
  }

  async listVolumes(instance: string): Promise<string[]> {
    const res = await this.docker.listVolumes({ filters: { label: [`${LABEL.managed}=true`, `${LABEL.instance}=${instance}`] } });
    return (res.Volumes ?? []).map((v) => v.Name);
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove();
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  async readFiles(id: string, paths: readonly string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const p of paths) {
      try {
        const stream = await this.docker.getContainer(id).getArchive({ path: p });
        // The call's deadline ends with the response headers; the body gets one of its own.
        const files = await withDeadline(engineCallOf("GET", `/containers/${id}/archive`), `GET /containers/${id}/archive (body)`, this.deadlines, (signal) => {
          signal.addEventListener("abort", () => (stream as unknown as { destroy(): void }).destroy(), { once: true });
          return readTarFiles(stream);
        });
        const base = p.split("/").pop() ?? p;
        const data = files.get(base);
        if (data) out.set(p, data);
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
    }
    return out;
  }

  async pathExists(id: string, path: string): Promise<boolean> {
    // dockerode's infoArchive (a HEAD) never releases its socket: ask the engine directly.
    const url = `/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(path)}`;
    const status = await withDeadline(engineCallOf("HEAD", url), `HEAD ${url.split("?")[0]}`, this.deadlines, (signal) => new Promise<number>((resolve, reject) => {
      const req = httpRequest({ socketPath: this.socketPath, method: "HEAD", path: url, agent: false, signal }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    }));
    if (status === 200) return true;
    if (status === 404) return false;
    throw new Error(`HEAD archive ${path} in ${id}: engine answered ${status}`);
  }

  /**
   * A running runc container is written directly (ProcRootWriter, ~1 ms); anything else, and
   * anything the direct writer leaves, by the engine's archive extraction (40-80 ms: dockerd
   * re-execs docker-untar per call). A direct write that stopped part-way is redone whole by the
   * archive: it replaces files and resets directories, so the result is the archive's own, with
   * the last entry (the ready marker) still written last.
   */
  async writeFiles(id: string, entries: readonly TarEntry[]): Promise<void> {
    for (const e of entries) {
      const problem = entryPathProblem(e.path);
      if (problem !== null) throw new Error(`writeFiles entry path ${JSON.stringify(e.path)} ${problem}`);
    }
    const direct = await this.direct.write(id, entries);
    if (direct.written) return this.onWrite({ container: id, via: "direct" });
    this.onWrite({ container: id, via: "archive", reason: direct.reason, partial: direct.partial });
    await this.docker.getContainer(id).putArchive(await packTar(entries), { path: "/" });
  }

  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusCode(err) !== 304) throw err; // 304: already running
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err;
    }
  }

  async rename(id: string, name: string): Promise<void> {
    await this.docker.getContainer(id).rename({ name });
  }

  async connectNetwork(id: string, network: string): Promise<void> {
    const info = await this.docker.getContainer(id).inspect();
    const attached = Object.keys(info.NetworkSettings.Networks ?? {});
    if (attached.includes(network)) return;
    // The engine refuses a second network beside `none`: leave it first.
    if (attached.includes(NO_NETWORK)) await this.docker.getNetwork(NO_NETWORK).disconnect({ Container: id });
    await this.docker.getNetwork(network).connect({ Container: id });
  }

  async containerAddress(id: string, network: string): Promise<string | null> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      if (!info.State.Running) return null;
      const networks = info.NetworkSettings.Networks as Record<string, { IPAddress?: string } | undefined>;
      return networks[network]?.IPAddress || null;
    } catch (err) {
      if (statusCode(err) === 404) return null;
      throw err;
    }
  }

  /**
   * The host pid of a running container's init and its OCI runtime, or null when it is not
   * running: how ProcRootSockets reaches the container's filesystem. Not part of the port (a
   * Docker mechanic), so the composition root hands it over as a function.
   */
  async initProcess(id: string): Promise<{ pid: number; ociRuntime: string } | null> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      if (!info.State.Running || !(info.State.Pid > 0)) return null;
      return { pid: info.State.Pid, ociRuntime: info.HostConfig.Runtime ?? "runc" };
    } catch (err) {
      if (statusCode(err) === 404) return null;
      throw err;
    }
  }

  async exec(id: string, plan: ExecPlan): Promise<ExecSession> {
    const exec = await this.docker.getContainer(id).exec({
      Cmd: [...plan.argv],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: plan.tty,
      Env: [...plan.env],
      User: plan.user,
      WorkingDir: plan.workdir,
      Privileged: false,
    });
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: plan.tty })) as Duplex;
    const { stdout, stderr } = execOutputs(stream, plan.tty);
    let hostProcess: ProcessIdentity | null = null;
    const pidOf = async (): Promise<ProcessIdentity | null> => {
      if (hostProcess === null) {
        const info = await exec.inspect();
        // Identified while the engine still reports it running, so the start time is its own.
        if (info.Running && info.Pid > 0) hostProcess = identify(info.Pid);
      }
      return hostProcess;
    };
    const streamEnded = new Promise<void>((resolve) => {
      stream.once("end", resolve);
      stream.once("close", resolve);
      stream.once("error", () => resolve());
    });
    let over = false;
    const exited = (async () => {
      await streamEnded;
      try {
        // The hijacked stream can end a moment before the engine records the exit code.
        for (let i = 0; i < 100; i++) {
          const info = await exec.inspect();
          if (!info.Running) return info.ExitCode ?? 255;
          await new Promise((r) => setTimeout(r, 20));
        }
        return 255;
      } finally {
        over = true;
        // The engine may keep the hijacked connection half-open after the process has gone.
        stream.destroy();
      }
    })();
    // Learn the pid early so a disconnect can still signal the process.
    void pidOf().catch(() => undefined);
    return {
      stdin: stream,
      stdout,
      stderr,
      exited,
      resize: async (cols, rows) => {
        await exec.resize({ h: rows, w: cols }).catch(() => undefined);
      },
      signal: async (signal) => {
        // Docker has no exec-kill API. The daemon runs in the host pid namespace, so it signals the
        // exec'd process by its host pid (runc; with gVisor the process is inside the sandbox and
        // the session ends when the client's connection closes).
        // Once the process has exited its pid may belong to someone else (another user's session
        // process, a host daemon): the signal goes only to the very process that was identified.
        if (over) return;
        const who = await pidOf().catch(() => null);
        if (who === null || over) return;
        signalIfSame(who, signal);
      },
    };
  }
}

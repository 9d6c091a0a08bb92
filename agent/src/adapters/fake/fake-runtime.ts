import { PassThrough } from "node:stream";
import { LABEL, type ContainerSpec, type NetworkSpec } from "../../core/container/container-spec.js";
import { UserFacingError } from "../../core/errors.js";
import type { ExecPlan } from "../../core/container/exec-plan.js";
import { blockSize, formatAddress, overlaps, type Cidr } from "../../core/net/cidr.js";
import type { TarEntry } from "../../support/tar.js";
import type { ServiceContainerSpec } from "../../core/podfile/service-container.js";
import { NetworkInUse, SubnetTaken, type ContainerRuntime, type EngineNetwork, type ExecSession, type ManagedContainer, type ManagedNetwork } from "../../core/ports/container-runtime.js";

/**
 * In-memory container engine for unit tests of the daemon's lifecycle logic. It passes the same
 * conformance suite as DockerRuntime (test/conformance). Its exec understands a deliberately tiny
 * shell (FakeProcess below) whose streams push back like a real process's pipes.
 */
interface FakeContainer {
  id: string;
  spec: ContainerSpec;
  running: boolean;
  files: Map<string, Buffer>;
  createdMs: number;
  /** Its address on its network, as an engine would assign one: fixed per container. */
  address: string;
  /** Networks joined beside `spec.network` (a main container on its services network), with the address there. */
  extra: Map<string, string>;
  /** Set for a companion service: what it was created with. */
  service: ServiceContainerSpec | null;
}

/** Docker's default pools as engine 20.10 has them: 172.17-31.0.0/16 (one per network here). */
const DEFAULT_POOLS: readonly Cidr[] = Array.from({ length: 15 }, (_, i) => ({ base: (172 * 256 + 17 + i) * 65536, prefix: 16 }));

export class FakeRuntime implements ContainerRuntime {
  readonly containers = new Map<string, FakeContainer>();
  /** Every network on the fake engine, with the subnet it holds (ours, and others' from addForeignNetwork). */
  readonly networks = new Map<string, NetworkSpec & { readonly subnet: Cidr }>();
  /** Named volumes: name -> (path relative to the mount target -> content), plus their labels. */
  readonly volumes = new Map<string, { labels: Readonly<Record<string, string>>; files: Map<string, Buffer> }>();
  /** Counters so tests can assert "exactly one create" under concurrency. */
  readonly calls = { create: 0, createNetwork: 0, remove: 0, start: 0 };
  private seq = 0;
  down = false;

  constructor(readonly images: Map<string, Map<string, Buffer>> = new Map()) {}

  private check(): void {
    if (this.down) throw new UserFacingError("docker-down", "the container engine on this node is not answering");
  }

  private async tick(): Promise<void> {
    // Yield like a real engine round trip, so races in callers are exercised.
    await new Promise((r) => setImmediate(r));
  }

  async ping(): Promise<void> {
    this.check();
  }

  private readonly tagMoves = new Map<string, number>();

  async imageId(image: string): Promise<string | null> {
    this.check();
    const moved = this.tagMoves.get(image);
    return this.images.has(image) ? `sha256:fake-${image}${moved ? `-${moved}` : ""}` : null;
  }

  /** Test hook: the tag now names another image (a rebuild), with the same files. */
  moveTag(image: string): void {
    this.tagMoves.set(image, (this.tagMoves.get(image) ?? 0) + 1);
  }

  private view(c: FakeContainer): ManagedContainer {
    return { id: c.id, name: c.spec.name, user: c.spec.labels[LABEL.user] ?? "", project: c.spec.labels[LABEL.project] ?? "", running: c.running, specHash: c.spec.labels[LABEL.specHash] ?? "", createdMs: c.createdMs, labels: c.spec.labels };
  }

  async listManaged(instance: string): Promise<ManagedContainer[]> {
    this.check();
    await this.tick();
    return [...this.containers.values()].filter((c) => c.spec.labels[LABEL.managed] === "true" && c.spec.labels[LABEL.instance] === instance).map((c) => this.view(c));
  }

  async inspectByName(name: string): Promise<ManagedContainer | null> {
    this.check();
    await this.tick();
    const c = [...this.containers.values()].find((x) => x.spec.name === name);
    return c ? this.view(c) : null;
  }

  async ensureNetwork(spec: NetworkSpec): Promise<boolean> {
    this.check();
    await this.tick();
    if (this.networks.has(spec.name)) return false;
    const taken = [...this.networks.values()].map((n) => n.subnet);
    if (spec.subnet && taken.some((t) => spec.subnet && overlaps(t, spec.subnet))) throw new SubnetTaken(`Pool overlaps with other one on this address space (${spec.name})`);
    // Like the engine: without a subnet, the first default pool nobody overlaps.
    const subnet = spec.subnet ?? DEFAULT_POOLS.find((p) => !taken.some((t) => overlaps(t, p)));
    if (!subnet) throw new Error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
    this.calls.createNetwork++;
    this.networks.set(spec.name, { ...spec, subnet });
    return true;
  }

  /** Test hook: a network another program made on the same engine. */
  addForeignNetwork(name: string, subnet: Cidr): void {
    this.networks.set(name, { name, labels: {}, subnet });
  }

  async engineNetworks(): Promise<EngineNetwork[]> {
    this.check();
    await this.tick();
    return [...this.networks.values()].map((n) => ({ name: n.name, instance: n.labels[LABEL.managed] === "true" ? (n.labels[LABEL.instance] ?? null) : null, subnets: [n.subnet] }));
  }

  async removeNetwork(name: string): Promise<void> {
    this.check();
    await this.tick();
    const attached = [...this.containers.values()].filter((c) => c.spec.network === name || c.extra.has(name));
    if (attached.length > 0) throw new NetworkInUse(name, attached.map((c) => c.spec.name));
    this.networks.delete(name);
  }

  async listNetworks(instance: string): Promise<ManagedNetwork[]> {
    this.check();
    return [...this.networks.values()].filter((n) => n.labels[LABEL.managed] === "true" && n.labels[LABEL.instance] === instance).map((n) => ({ name: n.name, labels: n.labels }));
  }

  async create(spec: ContainerSpec): Promise<string> {
    this.check();
    await this.tick();
    const image = this.imageFor(spec.image, "environment", spec.name);
    const id = this.newId();
    const files = new Map(image);
    if (spec.homeVolume) {
      const vol = this.volumes.get(spec.homeVolume.name) ?? { labels: spec.homeVolume.labels, files: new Map<string, Buffer>() };
      this.volumes.set(spec.homeVolume.name, vol);
      for (const [rel, data] of vol.files) files.set(spec.homeVolume.target + rel, data);
    }
    this.containers.set(id, { id, spec, running: false, files, createdMs: Date.now(), address: this.addressOn(spec.network), extra: new Map(), service: null });
    return id;
  }

  /** A create's checks, as the engine makes them: the image is there, the name is free. */
  private imageFor(ref: string, kind: "environment" | "service", name: string): Map<string, Buffer> {
    const image = this.images.get(ref);
    if (!image) throw new UserFacingError("image-missing", `the ${kind} image ${ref} is not available on this node`);
    if ([...this.containers.values()].some((c) => c.spec.name === name)) throw new Error(`Conflict. The container name "/${name}" is already in use`);
    return image;
  }

  /** A created container's id (counted as a create call). */
  private newId(): string {
    this.calls.create++;
    return `fake${(++this.seq).toString(16).padStart(12, "0")}`;
  }

  private nextAddress(): string {
    return `172.31.${Math.floor(this.seq / 250) % 256}.${(this.seq % 250) + 2}`;
  }

  private addressOn(network: string): string {
    const subnet = this.networks.get(network)?.subnet;
    // Like the engine's IPAM: an address in that network's block (after the gateway).
    return subnet ? formatAddress(subnet.base + 2 + (this.seq % Math.max(1, blockSize(subnet.prefix) - 3))) : this.nextAddress();
  }

  async createService(spec: ServiceContainerSpec): Promise<string> {
    this.check();
    await this.tick();
    const image = this.imageFor(spec.image, "service", spec.name);
    if (!this.networks.has(spec.network)) throw Object.assign(new Error(`network ${spec.network} not found`), { statusCode: 404 });
    const id = this.newId();
    for (const v of spec.volumes) if (!this.volumes.has(v.name)) this.volumes.set(v.name, { labels: v.labels, files: new Map() });
    const asContainer: ContainerSpec = { name: spec.name, image: spec.image, network: spec.network, labels: spec.labels, hostname: spec.alias, ociRuntime: spec.ociRuntime, cpus: spec.cpus, memoryBytes: spec.memoryBytes, pidsLimit: spec.pidsLimit, capAdd: spec.capAdd, keepAliveUser: "", homeVolume: null };
    this.containers.set(id, { id, spec: asContainer, running: false, files: new Map(image), createdMs: Date.now(), address: this.addressOn(spec.network), extra: new Map(), service: spec });
    return id;
  }

  async listVolumes(instance: string): Promise<string[]> {
    this.check();
    return [...this.volumes.entries()].filter(([, v]) => v.labels[LABEL.instance] === instance).map(([name]) => name);
  }

  async removeVolume(name: string): Promise<void> {
    this.check();
    if ([...this.containers.values()].some((c) => c.spec.homeVolume?.name === name || c.service?.volumes.some((v) => v.name === name))) throw Object.assign(new Error(`volume ${name} is in use`), { statusCode: 409 });
    this.volumes.delete(name);
  }

  private get(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw Object.assign(new Error(`No such container: ${id}`), { statusCode: 404 });
    return c;
  }

  async readFiles(id: string, paths: readonly string[]): Promise<Map<string, Buffer>> {
    this.check();
    const c = this.get(id);
    const out = new Map<string, Buffer>();
    for (const p of paths) {
      const f = c.files.get(p);
      if (f) out.set(p, f);
    }
    return out;
  }

  async pathExists(id: string, path: string): Promise<boolean> {
    this.check();
    const c = this.get(id);
    return c.files.has(path) || [...c.files.keys()].some((k) => k.startsWith(path.replace(/\/$/, "") + "/"));
  }

  async writeFiles(id: string, entries: readonly TarEntry[]): Promise<void> {
    this.check();
    const c = this.get(id);
    for (const e of entries) {
      const path = "/" + e.path.replace(/^\/+/, "").replace(/\/$/, "");
      const key = e.type === "file" ? path : path + "/";
      const data = e.type === "file" ? Buffer.from(e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
      c.files.set(key, data);
      // Writes under the home volume's mount land in the volume, as they do with a real engine.
      const vol = c.spec.homeVolume;
      if (vol && (key === vol.target + "/" || key.startsWith(vol.target + "/"))) this.volumes.get(vol.name)?.files.set(key.slice(vol.target.length), data);
    }
  }

  async start(id: string): Promise<void> {
    this.check();
    await this.tick();
    this.calls.start++;
    this.get(id).running = true;
  }

  async remove(id: string): Promise<void> {
    this.check();
    await this.tick();
    if (this.containers.delete(id)) this.calls.remove++;
  }

  async rename(id: string, name: string): Promise<void> {
    this.check();
    await this.tick();
    const c = this.get(id);
    if ([...this.containers.values()].some((x) => x !== c && x.spec.name === name)) throw Object.assign(new Error(`Conflict. The container name "/${name}" is already in use`), { statusCode: 409 });
    c.spec = { ...c.spec, name };
  }

  async connectNetwork(id: string, network: string): Promise<void> {
    this.check();
    await this.tick();
    const c = this.get(id);
    if (!this.networks.has(network)) throw Object.assign(new Error(`network ${network} not found`), { statusCode: 404 });
    if (c.spec.network === network || c.extra.has(network)) return;
    // A second network beside a real one; `none` is left for the new one.
    if (c.spec.network !== "none") {
      c.extra.set(network, this.addressOn(network));
      return;
    }
    c.spec = { ...c.spec, network };
    c.address = this.addressOn(network);
  }

  async containerAddress(id: string, network: string): Promise<string | null> {
    this.check();
    await this.tick();
    const c = this.containers.get(id);
    if (!c || !c.running) return null;
    return c.spec.network === network ? c.address : (c.extra.get(network) ?? null);
  }

  /** Test hook: what `docker stop` would do. */
  stop(id: string): void {
    this.get(id).running = false;
  }

  async exec(id: string, plan: ExecPlan): Promise<ExecSession> {
    this.check();
    const c = this.get(id);
    if (!c.running) throw Object.assign(new Error(`Container ${id} is not running`), { statusCode: 409 });
    const script = plan.argv[plan.argv.length - 2] === "-c" ? (plan.argv[plan.argv.length - 1] ?? "") : "";
    const proc = new FakeProcess();
    const exited = (async () => {
      await this.tick();
      return proc.run(script);
    })();
    return { stdin: proc.stdin, stdout: proc.stdout, stderr: proc.stderr, exited, resize: async () => undefined, signal: async (sig) => proc.kill(sig) };
  }
}

/** Bytes `head -c N /dev/zero` writes per write(2), like a real one's buffer. */
const HEAD_CHUNK = 64 * 1024;

/**
 * One exec'd process of the fake's tiny shell: `;`-separated `echo [-n] WORDS [>&2]`, `exit N`,
 * `cat` and `head -c N /dev/zero`. Its streams behave like pipes: a full stdout stops `cat` and
 * `head`, and input nobody reads backs up into the writer (write() says false), as a real engine's do.
 */
class FakeProcess {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  private killed: NodeJS.Signals | null = null;
  private onKill: () => void = () => undefined;
  private readonly killedNow = new Promise<void>((resolve) => (this.onKill = resolve));

  kill(sig: NodeJS.Signals): void {
    this.killed ??= sig;
    this.onKill();
  }

  async run(script: string): Promise<number> {
    let code = 0;
    for (const raw of script.split(";")) {
      const cmd = raw.trim();
      if (this.killed) break;
      if (cmd === "") continue;
      const step = await this.step(cmd);
      if (step !== null) {
        code = step;
        break;
      }
    }
    this.stdout.end();
    this.stderr.end();
    if (this.killed) return this.killed === "SIGKILL" ? 137 : 129;
    return code;
  }

  /** Runs one command; a number ends the script with that status. */
  private async step(cmd: string): Promise<number | null> {
    const exit = /^exit (\d+)$/.exec(cmd);
    if (exit) return Number(exit[1]);
    const echo = /^echo( -n)? (.*?)( >&2)?$/.exec(cmd);
    if (echo) {
      await this.write(echo[3] ? this.stderr : this.stdout, Buffer.from((echo[2] ?? "") + (echo[1] ? "" : "\n")));
      return null;
    }
    if (cmd === "cat") {
      await this.cat();
      return null;
    }
    const head = /^head -c (\d+) \/dev\/zero$/.exec(cmd);
    if (head) {
      for (let left = Number(head[1]); left > 0 && !this.killed; left -= HEAD_CHUNK) await this.write(this.stdout, Buffer.alloc(Math.min(left, HEAD_CHUNK)));
      return null;
    }
    await this.write(this.stderr, Buffer.from(`fake sh: ${cmd.split(" ")[0]}: not found\n`));
    return 127;
  }

  /** A blocking write(2): returns once the stream has room again (or the process is killed). */
  private async write(stream: PassThrough, data: Buffer): Promise<void> {
    if (stream.write(data)) return;
    await Promise.race([new Promise((resolve) => stream.once("drain", resolve)), this.killedNow]);
  }

  /** stdin to stdout with backpressure (pipe() pauses stdin while stdout is full) until EOF or a kill. */
  private async cat(): Promise<void> {
    if (this.stdin.readableEnded) return;
    this.stdin.pipe(this.stdout, { end: false });
    await Promise.race([new Promise((resolve) => this.stdin.once("end", resolve)), this.killedNow]);
    this.stdin.unpipe(this.stdout);
  }
}

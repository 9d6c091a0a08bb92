import type { Readable, Writable } from "node:stream";
import type { ContainerSpec, NetworkSpec } from "../container/container-spec.js";
import type { ExecPlan } from "../container/exec-plan.js";
import type { Cidr } from "../net/cidr.js";
import type { TarEntry } from "../../support/tar.js";
import type { ServiceContainerSpec } from "../podfile/service-container.js";

/**
 * The daemon's narrow port to a container engine, in our own types only: callers never see a
 * dockerode object. The Docker adapter and the in-memory fake both pass test/conformance.
 */
export interface ManagedContainer {
  readonly id: string;
  readonly name: string;
  readonly user: string;
  readonly project: string;
  readonly running: boolean;
  readonly specHash: string;
  /** Creation time (ms since the epoch), from the engine. */
  readonly createdMs: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** A network on the engine, ours or another program's, with the IPv4 blocks it holds. */
export interface EngineNetwork {
  readonly name: string;
  /** Its `podspawn.instance` label when podspawn manages it, else null. */
  readonly instance: string | null;
  readonly subnets: readonly Cidr[];
}

/** A network of an instance, with its labels (which say whose it is and what for). */
export interface ManagedNetwork {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The network still has containers attached (running or not): it was not removed. */
export class NetworkInUse extends Error {
  override readonly name = "NetworkInUse";
  constructor(
    readonly network: string,
    readonly containers: readonly string[],
  ) {
    super(`network ${network} is still in use by ${containers.length > 0 ? containers.join(", ") : "a container"}`);
  }
}

/** The engine refused a network because its subnet overlaps one the engine already has. */
export class SubnetTaken extends Error {
  override readonly name = "SubnetTaken";
}

export interface ExecSession {
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Empty (ends at once) for a TTY exec: the PTY merges stderr into stdout. */
  readonly stderr: Readable;
  resize(cols: number, rows: number): Promise<void>;
  /** Deliver a signal to the exec'd process; a no-op once it has exited. */
  signal(signal: NodeJS.Signals): Promise<void>;
  /** Resolves with the exit code once the process has exited and its output is drained. */
  readonly exited: Promise<number>;
}

export interface ContainerRuntime {
  ping(): Promise<void>;
  /** The engine's id of an image reference (changes when the tag moves), or null if absent. */
  imageId(image: string): Promise<string | null>;
  listManaged(instance: string): Promise<ManagedContainer[]>;
  /** Find one container by exact name, or null. */
  inspectByName(name: string): Promise<ManagedContainer | null>;
  /**
   * Create the network unless one with this name exists (true if created); removes duplicates.
   * A subnet that overlaps another network's is refused with SubnetTaken.
   */
  ensureNetwork(spec: NetworkSpec): Promise<boolean>;
  /**
   * Remove the network; one that is not there is no error. A network any container (running or
   * not, anybody's) is still attached to is kept: NetworkInUse. The engine itself would remove
   * one whose containers are stopped, and they could never start again.
   */
  removeNetwork(name: string): Promise<void>;
  listNetworks(instance: string): Promise<ManagedNetwork[]>;
  /** Every network on the engine (anybody's) with its subnets: the daemon never overlaps them. */
  engineNetworks(): Promise<EngineNetwork[]>;
  /** Create (not start). A missing image is a UserFacingError with code `image-missing`. */
  create(spec: ContainerSpec): Promise<string>;
  /**
   * Create (not start) a companion service: the image's own entrypoint and user, on its services
   * network only, reachable there by `spec.alias`, hardened like `create` (CapDrop ALL plus
   * `capAdd`, no-new-privileges, limits, a read-only root with `scratch` tmpfs), no host port.
   * A missing image is a UserFacingError with code `image-missing`.
   */
  createService(spec: ServiceContainerSpec): Promise<string>;
  /** Named volumes (persistent homes, service volumes) of an instance, by name. */
  listVolumes(instance: string): Promise<string[]>;
  removeVolume(name: string): Promise<void>;
  /** Read files from a container's filesystem (works before start); missing paths are absent. */
  readFiles(id: string, paths: readonly string[]): Promise<Map<string, Buffer>>;
  pathExists(id: string, path: string): Promise<boolean>;
  /** Write entries relative to `/` (works before start). */
  writeFiles(id: string, entries: readonly TarEntry[]): Promise<void>;
  start(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  /** Give a container (running or not) another name; a name in use is refused. */
  rename(id: string, name: string): Promise<void>;
  /**
   * Attach a container to `network`, live: one created on no network (`none`) leaves
   * `none`; one on another network keeps it and gets a second address (a main container joining its
   * services network). Attaching it again to the same network is not an error.
   */
  connectNetwork(id: string, network: string): Promise<void>;
  exec(id: string, plan: ExecPlan): Promise<ExecSession>;
  /**
   * The container's IPv4 address on `network` (what the daemon dials for a tunnel), or null if it
   * is not running or not attached to that network.
   */
  containerAddress(id: string, network: string): Promise<string | null>;
}

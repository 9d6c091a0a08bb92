import { createHash } from "node:crypto";
import type { NodeConfig } from "../config/node-config.js";
import type { Cidr } from "../net/cidr.js";

/**
 * The container and network for one (user, project), as plain data. The Docker adapter maps this
 * to Engine API options; the spec hash in the labels decides reattach vs recreate.
 */
export const LABEL = {
  managed: "podspawn.managed",
  instance: "podspawn.instance",
  user: "podspawn.user",
  project: "podspawn.project",
  specHash: "podspawn.spec-hash",
} as const;

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly network: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly hostname: string;
  /** The OCI runtime dockerd runs the container with. */
  readonly ociRuntime: "runc" | "runsc";
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly pidsLimit: number;
  /**
   * Capabilities added back after `CapDrop: ALL`. Empty: the daemon writes the user's passwd entry
   * and home through the archive API before start, so nothing inside needs root powers.
   */
  readonly capAdd: readonly string[];
  /**
   * uid:gid of the container's own processes (init and the keep-alive `sleep`): nobody, not root.
   * Root in the container is root on the host (no user namespace), even without capabilities:
   * it owns the rootfs and would be the one to gain from an escape. Sessions run as the user.
   */
  readonly keepAliveUser: string;
  /** `persistent` mode: a named volume mounted at the user's home, kept when the container goes. */
  readonly homeVolume: { readonly name: string; readonly target: string; readonly labels: Readonly<Record<string, string>> } | null;
}

export interface NetworkSpec {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * The address block the daemon chose from its pool. Left out or null, the engine's default pools
   * decide, which hold only about 30 networks per engine: every network the daemon makes for users
   * should have one (daemon/environments/subnet-table.ts).
   */
  readonly subnet?: Cidr | null;
  /**
   * No gateway out and containers may talk to each other on it (a Podfile's services network).
   * @default false - a user network: egress through the host's NAT, no traffic between containers
   */
  readonly internal?: boolean;
}

/*
 * '.' separates the parts because no instance, username or project may contain one: joining
 * with '-' made user "a-b"/project "c" and user "a"/project "b-c" the same container.
 */
export function containerName(instance: string, user: string, project: string): string {
  return `${instance}.${user}.${project}`;
}

export function homeVolumeName(instance: string, user: string, project: string): string {
  return `${instance}.${user}.${project}.home`;
}

export function networkName(instance: string, user: string): string {
  return `${instance}.${user}`;
}

export function networkSpec(instance: string, user: string, subnet: Cidr | null = null): NetworkSpec {
  return { name: networkName(instance, user), labels: { [LABEL.managed]: "true", [LABEL.instance]: instance, [LABEL.user]: user }, subnet };
}

/** nobody:nogroup on Debian and most images; a number, so the image needs no passwd entry for it. */
export const KEEP_ALIVE_USER = "65534:65534";

/** Inputs are validated ids only (username, project, config): nothing typed at login. */
export function containerSpec(instance: string, user: string, project: string, config: NodeConfig): ContainerSpec {
  const base = {
    name: containerName(instance, user, project),
    image: config.image,
    network: networkName(instance, user),
    hostname: project,
    ociRuntime: config.ociRuntime,
    cpus: config.resources.cpus,
    memoryBytes: config.resources.memoryBytes,
    pidsLimit: config.ociRuntime === "runsc" ? Math.max(config.resources.pids, 1024) : config.resources.pids,
    capAdd: [] as string[],
    keepAliveUser: KEEP_ALIVE_USER,
    homeVolume:
      config.session.mode === "persistent"
        ? { name: homeVolumeName(instance, user, project), target: `/home/${user}`, labels: { [LABEL.managed]: "true", [LABEL.instance]: instance, [LABEL.user]: user, [LABEL.project]: project } }
        : null,
  };
  const hash = createHash("sha256").update(JSON.stringify(base)).digest("hex").slice(0, 16);
  return {
    ...base,
    labels: {
      [LABEL.managed]: "true",
      [LABEL.instance]: instance,
      [LABEL.user]: user,
      [LABEL.project]: project,
      [LABEL.specHash]: hash,
    },
  };
}

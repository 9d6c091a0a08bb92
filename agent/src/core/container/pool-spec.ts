import { createHash } from "node:crypto";
import type { Cidr } from "../net/cidr.js";
import { LABEL, type ContainerSpec, type NetworkSpec } from "./container-spec.js";

/**
 * What a pre-warmed container may hold before anyone claims it: the part of a container spec that
 * does not depend on the user. The pool is keyed by its hash, so the default environment and every
 * project image get a pool by the same code. Pure.
 */

/** Labels of pooled containers, beside LABEL.managed and LABEL.instance (never LABEL.user/project). */
export const POOL_LABEL = {
  /** "true": made for the pool. Who owns it after a claim is in its ready marker, not in a label. */
  pooled: "podspawn.pooled",
  /** The image id it was created from: a moved tag drains the pool. */
  imageId: "podspawn.image-id",
  /**
   * On a pooled container: the name of the network made for it alone (labels cannot change, so
   * after its claim this still says which network is its own). On that network: "true".
   */
  network: "podspawn.pool-network",
} as const;

/** The network mode that leaves a container its own loopback only. */
export const NO_NETWORK = "none";

export interface PoolTemplate {
  readonly image: string;
  readonly hostname: string;
  readonly ociRuntime: ContainerSpec["ociRuntime"];
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly pidsLimit: number;
  readonly capAdd: readonly string[];
  readonly keepAliveUser: string;
  /** Hash of everything above: equal hashes, interchangeable containers. */
  readonly hash: string;
}

/**
 * The user-independent part of `spec`, or null when the spec cannot be pooled: a persistent home is
 * a per-user mount that only a create can add.
 */
export function poolTemplateOf(spec: ContainerSpec): PoolTemplate | null {
  if (spec.homeVolume !== null) return null;
  const shape = { image: spec.image, hostname: spec.hostname, ociRuntime: spec.ociRuntime, cpus: spec.cpus, memoryBytes: spec.memoryBytes, pidsLimit: spec.pidsLimit, capAdd: [...spec.capAdd], keepAliveUser: spec.keepAliveUser };
  const hash = createHash("sha256").update(JSON.stringify(shape)).digest("hex").slice(0, 16);
  return { ...shape, hash };
}

/** `<instance>.pool.<hash>.<tag>`: four dot-separated parts, so never a user's `<instance>.<user>.<project>`. */
export function pooledName(instance: string, hash: string, tag: string): string {
  return `${instance}.pool.${hash}.${tag}`;
}

/**
 * `<instance>.pool.<tag>`: three parts with `pool` second. A user's network has two parts
 * (`<instance>.<user>`) and a services network four, so none of theirs is ever this name.
 */
export function pooledNetworkName(instance: string, tag: string): string {
  return `${instance}.pool.${tag}`;
}

/** Whether `name` is a network the pool made (by its name; its label says so too). */
export function isPooledNetworkName(instance: string, name: string): boolean {
  const parts = name.split(".");
  return parts.length === 3 && parts[0] === instance && parts[1] === "pool" && parts[2] !== "";
}

/**
 * The network of one pooled container: a user network in all but the name (the same adapter makes
 * both: bridge, no traffic between its containers, a block of the daemon's address pool), with
 * that container alone on it, before and after its claim. The claim then needs no network call:
 * engine 20.10 takes 150-220 ms to create a network and connect a running container to it.
 */
export function pooledNetworkSpec(instance: string, tag: string, subnet: Cidr | null): NetworkSpec {
  return { name: pooledNetworkName(instance, tag), labels: { [LABEL.managed]: "true", [LABEL.instance]: instance, [POOL_LABEL.network]: "true" }, subnet };
}

/** The spec a pooled container is created with: hardened like a user's (same adapter, same fields), on a network of its own. */
export function pooledContainerSpec(instance: string, template: PoolTemplate, imageId: string, tag: string): ContainerSpec {
  const { hash, ...shape } = template;
  const network = pooledNetworkName(instance, tag);
  return {
    ...shape,
    name: pooledName(instance, hash, tag),
    network,
    homeVolume: null,
    labels: { [LABEL.managed]: "true", [LABEL.instance]: instance, [POOL_LABEL.pooled]: "true", [LABEL.specHash]: hash, [POOL_LABEL.imageId]: imageId, [POOL_LABEL.network]: network },
  };
}

/** The network a pooled container (claimed or not) was made with, by its label, or null. */
export function pooledNetworkOf(instance: string, labels: Readonly<Record<string, string>>): string | null {
  const name = labels[POOL_LABEL.network];
  return name !== undefined && isPooledNetworkName(instance, name) ? name : null;
}

export function isPooled(labels: Readonly<Record<string, string>>): boolean {
  return labels[POOL_LABEL.pooled] === "true";
}

/**
 * Whose a pooled container is by its name: (user, project) once claimed (renamed to the user's
 * container name), "unclaimed" while it has its pool name, null for any other name. The name only
 * says where to look: the claim is proved by the ready marker, which records the project too.
 */
export function pooledOwner(instance: string, name: string): { readonly user: string; readonly project: string } | "unclaimed" | null {
  const parts = name.split(".");
  if (parts[0] !== instance) return null;
  if (parts.length === 4 && parts[1] === "pool") return "unclaimed";
  if (parts.length === 3 && parts[1] && parts[2]) return { user: parts[1], project: parts[2] };
  return null;
}

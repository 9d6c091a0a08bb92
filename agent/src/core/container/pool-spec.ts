import { createHash } from "node:crypto";
import { LABEL, type ContainerSpec } from "./container-spec.js";

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
} as const;

/** The network mode of an unclaimed container: no interface but its own loopback. */
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

/** The spec a pooled container is created with: hardened like a user's (same adapter, same fields), on no network. */
export function pooledContainerSpec(instance: string, template: PoolTemplate, imageId: string, tag: string): ContainerSpec {
  const { hash, ...shape } = template;
  return {
    ...shape,
    name: pooledName(instance, hash, tag),
    network: NO_NETWORK,
    homeVolume: null,
    labels: { [LABEL.managed]: "true", [LABEL.instance]: instance, [POOL_LABEL.pooled]: "true", [LABEL.specHash]: hash, [POOL_LABEL.imageId]: imageId },
  };
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

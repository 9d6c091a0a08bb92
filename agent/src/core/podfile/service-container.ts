import type { ServicePlan } from "./environment-plan.js";

/**
 * One companion service's container as the runtime port takes it: the plan's service on the
 * environment's services network, with what the engine needs beyond the plan. Pure.
 */
export interface ServiceContainerSpec {
  readonly name: string;
  readonly image: string;
  /** The services network; the container is on no other (no egress, no other user's network). */
  readonly network: string;
  /** Its DNS name there (`postgres`). */
  readonly alias: string;
  readonly env: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly ociRuntime: "runc" | "runsc";
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly pidsLimit: number;
  /** After CapDrop ALL: empty for every service a Podfile can describe. */
  readonly capAdd: readonly string[];
  /** Named volumes only: a Podfile cannot name a host path. */
  readonly volumes: readonly { readonly name: string; readonly target: string; readonly readOnly: boolean; readonly labels: Readonly<Record<string, string>> }[];
  /**
   * The root filesystem is read-only; these paths get a small private tmpfs (mode 1777) for
   * sockets, pid and lock files. What a service keeps goes in its volumes (or its image's VOLUMEs).
   */
  readonly scratch: readonly string[];
}

/**
 * Names the volumes that go with a service container (comma-separated): those not persistent.
 * The container carries it, so whoever removes the container, after a restart too, knows which
 * volumes to remove with it without the plan.
 */
export const TRANSIENT_VOLUMES_LABEL = "podspawn.transient-volumes";

/**
 * Where a service may write besides its volumes: a tmpfs at /tmp. Not /run: the engine gives a
 * tmpfs there mode 755 whatever it is asked (so a non-root server could not use it); a service
 * image puts its sockets in /tmp (podfiles/services/postgres does).
 */
export const SERVICE_SCRATCH = ["/tmp"] as const;
/** Each scratch tmpfs's size: pid files and sockets, not data. */
export const SCRATCH_BYTES = 64 * 1024 * 1024;

export function serviceContainerSpec(plan: ServicePlan, network: string): ServiceContainerSpec {
  const transient = plan.volumes.filter((v) => !v.persistent).map((v) => v.name);
  return {
    name: plan.containerName,
    image: plan.image,
    network,
    alias: plan.name,
    env: plan.env,
    labels: { ...plan.labels, ...(transient.length > 0 ? { [TRANSIENT_VOLUMES_LABEL]: transient.join(",") } : {}) },
    ociRuntime: plan.ociRuntime,
    cpus: plan.cpus,
    memoryBytes: plan.memoryBytes,
    pidsLimit: plan.pidsLimit,
    capAdd: plan.capAdd,
    volumes: plan.volumes.map((v) => ({ name: v.name, target: v.target, readOnly: v.readOnly, labels: v.labels })),
    scratch: SERVICE_SCRATCH,
  };
}

/** The volumes to remove with a service container, from its labels (names only: ids are validated). */
export function transientVolumesOf(labels: Readonly<Record<string, string>>): string[] {
  return (labels[TRANSIENT_VOLUMES_LABEL] ?? "").split(",").filter((v) => /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v));
}

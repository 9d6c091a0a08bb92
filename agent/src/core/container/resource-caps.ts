import { formatBytes } from "../config/units.js";

/**
 * The most one environment may have on this node. The node's own `resources` (what every
 * environment gets by default) and whatever a project asks for (a Podfile's `resources`) must
 * stay within these; `NodeConfig.resourceCaps` carries them.
 */
export interface ResourceCaps {
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly pids: number;
}

export type ResourceRequest = Partial<ResourceCaps>;

/**
 * Built-in caps for a shared node: twice the default environment (2 CPUs, 2 GiB, 512 pids) in
 * CPUs, four times in memory, eight in pids. A node whose `resources` ask for more raises its
 * caps to match, so an existing config keeps working.
 */
export const DEFAULT_RESOURCE_CAPS: ResourceCaps = { cpus: 4, memoryBytes: 8 * 1024 ** 3, pids: 4096 };

/** A refusal in the words of the config (`memory`, not `memoryBytes`). */
export interface CapExceeded {
  readonly field: "cpus" | "memory" | "pids";
  readonly problem: string;
  readonly allowed: string;
}

/** The first resource asked for above its cap, or null. */
export function capExceeded(asked: ResourceRequest, caps: ResourceCaps): CapExceeded | null {
  if (asked.cpus !== undefined && asked.cpus > caps.cpus) return { field: "cpus", problem: `${asked.cpus} CPUs is above this node's cap of ${caps.cpus}`, allowed: `at most ${caps.cpus}` };
  if (asked.memoryBytes !== undefined && asked.memoryBytes > caps.memoryBytes) {
    return { field: "memory", problem: `${formatBytes(asked.memoryBytes)} is above this node's cap of ${formatBytes(caps.memoryBytes)}`, allowed: `at most ${formatBytes(caps.memoryBytes)}` };
  }
  if (asked.pids !== undefined && asked.pids > caps.pids) return { field: "pids", problem: `${asked.pids} pids is above this node's cap of ${caps.pids}`, allowed: `at most ${caps.pids}` };
  return null;
}

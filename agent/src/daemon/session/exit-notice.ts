import { containerName } from "../../core/container/container-spec.js";
import { explainExit, KILLED_STATUS, mayNeedExplaining, type ContainerAfterExit } from "../../core/container/exit-explanation.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import type { MemoryCgroup, MemoryReading } from "../../adapters/cgroup/memory-cgroup.js";
import { withDeadline } from "../../support/deadline.js";

/** Which container a process runs in. */
export interface ExecTarget {
  readonly containerId: string;
  readonly user: string;
  readonly project: string;
}

/** Armed before a process starts; asked once it has ended. */
export interface ExitExplainer {
  /** The line for the user (no prefix), or null when the exit status says it all. Never throws. */
  explain(code: number | null): Promise<string | null>;
}

export type WatchExit = (target: ExecTarget) => Promise<ExitExplainer>;

export interface ExitWatchDeps {
  readonly runtime: ContainerRuntime;
  readonly instance: string;
  readonly memory: MemoryCgroup;
  /** The most the explanation may hold back the exit status. @default 3 s */
  readonly timeoutMs?: number;
  /** How long after a SIGKILL death a still-running container is looked at again. @default 1 s */
  readonly settleMs?: number;
}

export const EXPLAIN_TIMEOUT_MS = 3000;
export const SETTLE_MS = 1000;

const quietly = (memory: MemoryCgroup, id: string): Promise<MemoryReading | null> => memory.read(id).catch(() => null);

async function containerAfter(d: ExitWatchDeps, t: ExecTarget): Promise<ContainerAfterExit> {
  try {
    const c = await d.runtime.inspectByName(containerName(d.instance, t.user, t.project));
    if (!c || c.id !== t.containerId) return "missing";
    return c.running ? "running" : "stopped";
  } catch {
    return d.runtime.ping().then(
      () => "running" as const,
      () => "engine-down" as const,
    );
  }
}

/**
 * A stopping container takes its exec'd processes with SIGKILL a moment before the engine reports
 * it stopped (a dockerd shutdown does that to every container): a 137 in a container that still
 * looks running is looked at once more. A plain `kill -9` pays that second look at its exit.
 */
async function settledContainer(d: ExitWatchDeps, t: ExecTarget, code: number | null): Promise<ContainerAfterExit> {
  const first = await containerAfter(d, t);
  if (first !== "running" || code !== KILLED_STATUS) return first;
  await new Promise((resolve) => setTimeout(resolve, d.settleMs ?? SETTLE_MS));
  return containerAfter(d, t);
}

/**
 * The OOM counter is read before the process starts, so a kill during this session shows as a
 * rise. Only a signal death or an unknown status costs the reads after the exit.
 */
export function makeWatchExit(d: ExitWatchDeps): WatchExit {
  return async (target) => {
    const before = await quietly(d.memory, target.containerId);
    return {
      explain: async (code) => {
        if (!mayNeedExplaining(code)) return null;
        const gather = async (): Promise<string | null> => {
          const after = await quietly(d.memory, target.containerId);
          const oomKilled = before !== null && after !== null && after.oomKills > before.oomKills;
          // An OOM kill explains itself: no need to wait for the container's state.
          const container = oomKilled ? "running" : await settledContainer(d, target, code);
          return explainExit({ code, oomKillsBefore: before?.oomKills ?? null, oomKillsAfter: after?.oomKills ?? null, memoryLimitBytes: after?.limitBytes ?? before?.limitBytes ?? null, container });
        };
        return withDeadline(gather().catch(() => null), d.timeoutMs ?? EXPLAIN_TIMEOUT_MS, () => null);
      },
    };
  };
}

/** No explanations (unit tests of other things, or a runtime without cgroups). */
export const NO_EXIT_WATCH: WatchExit = async () => ({ explain: async () => null });

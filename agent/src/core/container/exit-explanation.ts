import { formatBytes } from "../config/units.js";

/**
 * Why a session's process ended, when the exit status alone would leave the user guessing: the
 * kernel's OOM killer (cgroup counter), or the container or the engine going away under it.
 * Decided from facts read after the exit; the reading is the daemon's, the decision is here.
 */

/** What became of the container once the process had gone. */
export type ContainerAfterExit = "running" | "stopped" | "missing" | "engine-down";

export interface ExitFacts {
  /** The process's exit status, or null when the engine could not say (it went away). */
  readonly code: number | null;
  /** The container's OOM-kill counter before the process started and after it ended; null if unreadable. */
  readonly oomKillsBefore: number | null;
  readonly oomKillsAfter: number | null;
  /** The container's memory limit, for the message; null if unknown. */
  readonly memoryLimitBytes: number | null;
  readonly container: ContainerAfterExit;
}

/** 128 + SIGKILL: what a shell reports for a process the OOM killer took. */
export const KILLED_STATUS = 137;

/** Only a signal death (or an unknown status) can need explaining: a plain exit code is the program's own. */
export function mayNeedExplaining(code: number | null): boolean {
  return code === null || code >= 128;
}

function oomKilled(f: ExitFacts): boolean {
  return f.oomKillsBefore !== null && f.oomKillsAfter !== null && f.oomKillsAfter > f.oomKillsBefore;
}

/** The one line for the user (without the `podspawn: ` prefix), or null when the status says it all. */
export function explainExit(f: ExitFacts): string | null {
  if (!mayNeedExplaining(f.code)) return null;
  if ((f.code === KILLED_STATUS || f.code === null) && oomKilled(f)) {
    return f.memoryLimitBytes === null ? "killed: out of memory" : `killed: out of memory (limit ${formatBytes(f.memoryLimitBytes)})`;
  }
  switch (f.container) {
    case "engine-down":
      return "the container engine on this node stopped answering during the session; log in again in a moment";
    case "stopped":
    case "missing":
      return "your environment's container stopped during the session (the node's container engine may have restarted); log in again to start it";
    case "running":
      return null;
  }
}

/** The status the client leaves with when the engine could not report one. */
export function exitStatusOf(code: number | null): number {
  return code ?? 255;
}

import { formatDurationMs } from "../config/units.js";
import { FAILURE_TAIL_LINES, printable } from "../projects/build-messages.js";

/**
 * What a user sees of their environment's setup, on stderr: one line per step, and when a step
 * fails one message of a few lines (what failed, its last lines, what happens to the container).
 * The output comes from the Podfile's own commands, so it is made printable first.
 */

export function stepStartLine(environment: string, label: string): string {
  return printable(`setting up environment ${environment}: ${label}`);
}

export type StepFailure = { readonly kind: "exit"; readonly code: number } | { readonly kind: "timeout"; readonly timeoutMs: number };

/** `kept`: whether the container stays (on_start) or was removed (a create-time step). */
export function setupFailureMessage(environment: string, label: string, failure: StepFailure, tail: readonly string[], kept: boolean): string {
  const what = failure.kind === "exit" ? `failed (exit status ${failure.code})` : `did not finish within ${formatDurationMs(failure.timeoutMs)}`;
  const lines = tail.filter((l) => l.trim() !== "").slice(-FAILURE_TAIL_LINES).map((l) => `  ${printable(l)}`);
  const after = kept ? "  (your environment is kept; this step runs again at your next login)" : "  (the new environment was removed; your next login sets it up from the start)";
  return [printable(`setting up environment ${environment}: ${label} ${what}`), ...lines, after].join("\n");
}

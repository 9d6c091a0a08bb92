import { formatDurationMs } from "../config/units.js";
import type { BuildFailureReason, FailedStep } from "../ports/image-builder.js";

/**
 * What a login that needs an image build shows its user, on stderr: one line per build step, and
 * when the build fails one message of a few lines. Build output comes from the Podfile's own
 * commands, so it is made printable before it reaches anyone's terminal.
 */

/** Lines of the failing step a user sees (the admin's log has all of them). */
export const FAILURE_TAIL_LINES = 5;
const LINE_MAX = 160;

/** No control characters (escape sequences could drive the user's terminal), at most `max` characters. */
export function printable(text: string, max = LINE_MAX): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

export function stepLine(environment: string, step: FailedStep): string {
  return printable(`building environment ${environment}: step ${step.step}/${step.total} : ${step.instruction}`);
}

export function waitingLine(environment: string, why: "build" | "slot"): string {
  return why === "build" ? `building environment ${environment}: waiting for the build another login started` : `building environment ${environment}: waiting for a free build slot on this node`;
}

export interface BuildFailure {
  readonly reason: BuildFailureReason;
  readonly failedStep: FailedStep | null;
  readonly tail: readonly string[];
  readonly timeoutMs: number;
}

function where(step: FailedStep | null): string {
  return step ? ` at step ${step.step}/${step.total} (${printable(step.instruction, 100)})` : "";
}

/** The first line: what failed and where. */
function headline(environment: string, f: BuildFailure): string {
  switch (f.reason) {
    case "timeout":
      return `building environment ${environment} did not finish within ${formatDurationMs(f.timeoutMs)}${where(f.failedStep)}`;
    case "aborted":
      return `building environment ${environment} was stopped${where(f.failedStep)}`;
    case "engine":
      return `building environment ${environment} failed: the container engine did not complete the build${where(f.failedStep)}`;
    case "invalid":
    case "step-failed":
      return `building environment ${environment} failed${where(f.failedStep)}`;
  }
}

/**
 * One message of at most FAILURE_TAIL_LINES + 2 lines: what failed, the failing step's last
 * lines, and where the rest is.
 */
export function buildFailureMessage(environment: string, f: BuildFailure): string {
  const tail = f.tail.filter((l) => l.trim() !== "").slice(-FAILURE_TAIL_LINES).map((l) => `  ${printable(l)}`);
  return [headline(environment, f), ...tail, "  (the node's admin has the full build log)"].join("\n");
}

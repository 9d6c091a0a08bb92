import { describeError, InputError, UserFacingError } from "../../core/errors.js";
import { LimitRefusal } from "../../core/container/admission.js";
import { FrameType, type FrameTypeValue } from "../../core/protocol/frames.js";
import type { SessionEndReason } from "./session-events.js";

/** How a session ended; decided once, by whichever came first. */
export type SessionOutcome =
  /** The far end finished (the process exited, the service closed): its status goes to the client. */
  | { readonly kind: "exited"; readonly code: number; readonly broken?: string; readonly notice?: string }
  /** Something the user must be told in one line (bad input, engine down, nothing listening...). */
  | { readonly kind: "error"; readonly message: string }
  | { readonly kind: "idle-timeout"; readonly idleMs: number }
  /** The client's connection closed. */
  | { readonly kind: "disconnected" };

export const INTERNAL_ERROR_MESSAGE = "internal error starting the session (the node's admin can see the details in the daemon log)";

/**
 * One of our lines on the user's stderr. A plain newline on a terminal too: spawn's raw mode
 * (libuv's) keeps the pty's output processing, which turns it into CR LF.
 */
export function noticeText(line: string): string {
  return `podspawn: ${line}\n`;
}

/** The frame that tells the client how its session ended, if it is still there to be told. */
export function finalFrame(outcome: SessionOutcome): { type: FrameTypeValue; payload: string } | null {
  switch (outcome.kind) {
    case "exited":
      return { type: FrameType.Exit, payload: JSON.stringify({ code: outcome.code }) };
    case "error":
      return { type: FrameType.Error, payload: JSON.stringify({ message: outcome.message }) };
    case "idle-timeout":
      return { type: FrameType.Error, payload: JSON.stringify({ message: `session closed after ${Math.round(outcome.idleMs / 1000)} s without input or output (the node's idle timeout)` }) };
    case "disconnected":
      return null;
  }
}

export function endReason(outcome: SessionOutcome, started: boolean): SessionEndReason {
  switch (outcome.kind) {
    case "exited":
      return outcome.broken === undefined ? "exited" : "error";
    case "error":
      return "error";
    case "idle-timeout":
      return "idle-timeout";
    case "disconnected":
      return started ? "disconnected" : "client-gone";
  }
}

/** What the user is told about a failure: the message of ours, never the internals of a bug. */
export function userMessageOf(err: unknown): string {
  return err instanceof InputError || err instanceof UserFacingError ? err.message : INTERNAL_ERROR_MESSAGE;
}

/**
 * What the admin reads about it, or null for the user's own bad input (nothing to act on) and for
 * a login refused by a limit (the environments already logged it as `refused`, not an error).
 */
export function adminDetailOf(err: unknown): string | null {
  if (err instanceof InputError || err instanceof LimitRefusal) return null;
  if (err instanceof UserFacingError) return `${err.message}${err.detail ? `: ${err.detail}` : ""}`;
  return describeError(err);
}

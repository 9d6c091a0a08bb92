import type { ExecPlan } from "../container/exec-plan.js";
import type { StdioOffer } from "../protocol/stdio-offer.js";

/** The node config's `direct_io.mode`. */
export type DirectIoMode = "auto" | "off";

export interface DirectIoQuestion {
  readonly mode: DirectIoMode;
  /** What spawn offered in HELLO (its stdio are pipes), or null. */
  readonly offer: StdioOffer | null;
  readonly plan: Pick<ExecPlan, "kind" | "tty">;
  /** Why the engine cannot run it directly (not runc, no runc found...), or null when it can. */
  readonly engineProblem: string | null;
}

export type DirectIoDecision = { readonly direct: true } | { readonly direct: false; readonly reason: string; readonly quiet: boolean };

/**
 * Whether a session's process gets sshd's pipes as its own stdio (runc exec, no byte through
 * spawn, the daemon, dockerd or the shim) or the engine path. `quiet`: an expected case (a TTY,
 * no offer, switched off) that the admin needs no log line for.
 */
export function decideDirectIo(q: DirectIoQuestion): DirectIoDecision {
  if (q.mode === "off") return { direct: false, reason: "direct_io.mode is off", quiet: true };
  if (q.offer === null) return { direct: false, reason: "the client offered no pipes", quiet: true };
  // A PTY needs the engine's (or runc's) terminal handling; the inner sshd has its own channel.
  if (q.plan.tty) return { direct: false, reason: "the session has a terminal", quiet: true };
  if (q.plan.kind !== "command" && q.plan.kind !== "sftp") return { direct: false, reason: `a ${q.plan.kind} session`, quiet: true };
  if (q.engineProblem !== null) return { direct: false, reason: q.engineProblem, quiet: false };
  return { direct: true };
}

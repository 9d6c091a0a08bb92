import { InputError, UserFacingError } from "../errors.js";
import type { Layout } from "./layout.js";
import { sshdDropinDir } from "./sshd-dropin.js";

/**
 * Draining a node: it takes no new environments (existing sessions go on, and a user whose
 * environment is still on the node gets back into it), and it says so where a client can see it
 * before any login: in the SSH identification line sshd sends in clear text on connect
 * (`VersionAddendum`), which `podspawn connect` reads before it hands the stream to ssh. Pure
 * pieces: the state file, the sshd drop-in and the refusal's wording.
 */

/** The word in sshd's identification line that marks a draining node. */
export const DRAIN_MARK = "podspawn-draining";

export interface DrainState {
  readonly drained: boolean;
  /** Why, for the admin (`podspawn drain --reason`); null when not given. */
  readonly reason: string | null;
  /** ISO 8601 time it was drained; null when open. */
  readonly since: string | null;
}

export const OPEN: DrainState = { drained: false, reason: null, since: null };

const REASON = /^[\x20-\x7e]{1,200}$/;

/** A reason for the state file and the messages: printable ASCII, one line, at most 200. */
export function validateDrainReason(value: unknown, field = "--reason"): string {
  if (typeof value !== "string" || !REASON.test(value)) throw new InputError(field, `${JSON.stringify(value)} is not a one-line reason`, "1-200 printable ASCII characters");
  return value;
}

/** The state file's text (`<stateDir>/drain.json`). */
export function formatDrainState(s: DrainState): string {
  return JSON.stringify(s) + "\n";
}

/** Reads the state file; anything unreadable is an InputError naming the file. */
export function parseDrainState(text: string, file: string): DrainState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new InputError(file, "is not JSON", '{"drained":true|false,"reason":...,"since":...}');
  }
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof o["drained"] !== "boolean") throw new InputError(`${file}: drained`, "is not true or false");
  if (!o["drained"]) return OPEN;
  const reason = o["reason"] === null || o["reason"] === undefined ? null : validateDrainReason(o["reason"], `${file}: reason`);
  const since = typeof o["since"] === "string" && !Number.isNaN(Date.parse(o["since"])) ? o["since"] : null;
  return { drained: true, reason, since };
}

/** The line a user gets when a drained node would have to create their environment. */
export function drainRefusal(s: DrainState): UserFacingError | null {
  if (!s.drained) return null;
  return new UserFacingError(
    "node-draining",
    "this node is draining: it starts no new environments; log in through your .pod name (podspawn connect) to be routed to another node",
    s.reason ?? undefined,
  );
}

/** `<dir of sshd_config>/sshd_config.d/40-<instance>-drain.conf`: before our 50- drop-in, global. */
export function drainDropinPath(sshdConfigPath: string, layout: Layout): string {
  return `${sshdDropinDir(sshdConfigPath)}/40-${layout.instance}-drain.conf`;
}

export function renderDrainDropin(layout: Layout): string {
  return [
    `# Written by \`podspawn drain\` (instance ${layout.instance}); \`podspawn undrain\` removes it.`,
    "# Clients read this word in the identification line and try another node first.",
    `VersionAddendum ${DRAIN_MARK}`,
    "",
  ].join("\n");
}

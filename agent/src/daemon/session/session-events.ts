import { createHash } from "node:crypto";
import type { ErrorCode } from "../../core/error-codes.js";
import type { DaemonEvent, Logger } from "../log.js";

/**
 * The audit keeps the start of a command and a hash of all of it: a command may be 256 KiB (and
 * carry secrets pasted on a command line); the head says what ran, the hash matches a copy.
 */
export const AUDIT_COMMAND_MAX_BYTES = 1024;

function auditedCommand(command: string): Record<string, unknown> {
  const bytes = Buffer.byteLength(command);
  const sha256 = createHash("sha256").update(command).digest("hex");
  if (bytes <= AUDIT_COMMAND_MAX_BYTES) return { command, commandSha256: sha256 };
  // Cut on a character boundary: a split UTF-8 sequence would decode as U+FFFD.
  let head = Buffer.from(command).subarray(0, AUDIT_COMMAND_MAX_BYTES).toString("utf8");
  if (head.endsWith("\uFFFD")) head = head.slice(0, -1);
  return { command: head, commandSha256: sha256, commandBytes: bytes, commandTruncated: true };
}

/** What a session runs: the exec plan's kinds, or a TCP tunnel into the container. */
export type SessionKind = "shell" | "command" | "sftp" | "tunnel" | "inner-sshd";

/** Why a session ended. `client-gone`: the client left before its session had started. */
export type SessionEndReason = "exited" | "disconnected" | "idle-timeout" | "client-gone" | "error";

interface Who {
  readonly session: number;
  readonly user: string;
  readonly project: string;
}

/**
 * Each fact about a session, emitted once. The daemon log line and the audit record are both
 * derived from it here, so the two cannot drift apart.
 */
export type SessionEvent =
  | (Who & {
      readonly type: "started";
      readonly kind: SessionKind;
      readonly tty: boolean;
      /** Fingerprint of the key sshd accepted, when spawn could tell. */
      readonly key: string | null;
      /** The user's command line, for a command session (audit only). */
      readonly command?: string;
      /** The container port, for a tunnel. */
      readonly port?: number;
      /** `direct`: the process had the client's own pipes (no relay). */
      readonly stdio?: "direct" | "relay";
    })
  | (Who & { readonly type: "ended"; readonly exitCode: number | null; readonly reason: SessionEndReason })
  | (Who & { readonly type: "tunnel-refused"; readonly port: number; readonly reason: string })
  /** Something went wrong that the user saw as one line; `detail` is the admin's side of it. */
  | { readonly type: "failed"; readonly session: number; readonly user: string; readonly code: ErrorCode; readonly detail: string };

export type AuditRecord = { readonly event: string } & Readonly<Record<string, unknown>>;

/** The daemon log line of an event, if it has one. */
export function logEventOf(e: SessionEvent): DaemonEvent | null {
  switch (e.type) {
    case "started":
      return { kind: "session-start", user: e.user, project: e.project, sessionId: e.session, exec: e.kind, tty: e.tty, key: e.key ?? "unknown", ...(e.stdio === "direct" ? { stdio: e.stdio } : {}), ...(e.port === undefined ? {} : { port: e.port }) };
    case "ended":
      return { kind: "session-end", user: e.user, project: e.project, sessionId: e.session, exitCode: e.exitCode, reason: e.reason };
    case "failed":
      return { kind: "error", code: e.code, message: `session ${e.session} for ${e.user} failed`, detail: e.detail };
    case "tunnel-refused":
      return null;
  }
}

/** The audit record of an event, if it is one the audit keeps. */
export function auditRecordOf(e: SessionEvent): AuditRecord | null {
  switch (e.type) {
    case "started":
      return {
        event: "session-start",
        user: e.user,
        project: e.project,
        session: e.session,
        key: e.key,
        kind: e.kind,
        tty: e.tty,
        ...(e.stdio === "direct" ? { stdio: e.stdio } : {}),
        ...(e.command === undefined ? {} : auditedCommand(e.command)),
        ...(e.port === undefined ? {} : { port: e.port }),
      };
    case "ended":
      return { event: "session-end", user: e.user, project: e.project, session: e.session, exitCode: e.exitCode, reason: e.reason };
    case "tunnel-refused":
      return { event: "tunnel-refused", user: e.user, project: e.project, session: e.session, port: e.port, reason: e.reason };
    case "failed":
      return null;
  }
}

export type SessionReporter = (event: SessionEvent) => void;

/** One sink for session events: each becomes its log line and its audit record. */
export function sessionReporter(log: Logger, audit: (record: AuditRecord) => void): SessionReporter {
  return (event) => {
    const line = logEventOf(event);
    if (line) log(line);
    const record = auditRecordOf(event);
    if (record) audit(record);
  };
}

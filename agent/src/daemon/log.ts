import type { ErrorCode } from "../core/error-codes.js";

/**
 * Daemon log events: one typed union, formatted in one place, written to stderr (journald under
 * systemd). Nothing here ever reaches a user's session streams.
 */
export type DaemonEvent =
  | { kind: "started"; instance: string; users: number; containers: number }
  | { kind: "listening"; user: string }
  | { kind: "unlistening"; user: string }
  | { kind: "session-start"; user: string; project: string; sessionId: number; exec: string; tty: boolean; key: string; stdio?: "direct" | "relay"; port?: number }
  /** A session that offered its pipes took the engine path because a check failed (the user saw nothing). */
  | { kind: "direct-io-fallback"; user: string; sessionId: number; reason: string }
  | { kind: "session-end"; user: string; project: string; sessionId: number; exitCode: number | null; reason: string }
  | { kind: "container-created"; user: string; project: string; container: string; ms: number }
  | { kind: "container-started"; user: string; project: string; container: string }
  | { kind: "container-removed"; user: string; project: string; container: string; reason: string }
  | { kind: "volume-removed"; user: string; volume: string }
  /** A companion service's container was created and started on the environment's services network. */
  | { kind: "service-started"; user: string; project: string; service: string; container: string; ms: number }
  /** Its readiness check connected (`ms` after its start). */
  | { kind: "service-ready"; user: string; project: string; service: string; ms: number }
  | { kind: "service-removed"; user: string; project: string; container: string; reason: string }
  /** A new container's dotfiles, repos and on_create have run (`steps` of them, in `ms`). */
  | { kind: "setup-done"; user: string; project: string; container: string; steps: number; ms: number }
  | { kind: "network-created"; network: string; subnet?: string }
  /** `lingered`: network_linger passed; `reclaimed`: the address pool needed its block. */
  | { kind: "network-removed"; network: string; reason?: string }
  /** A login refused by a quota or by the node's capacity (`limit` names which); the user got `message`. */
  | { kind: "refused"; user: string; project: string; limit: string; message: string }
  /** A Docker Engine API call got no answer within its budget. */
  | { kind: "engine-timeout"; call: string; ms: number }
  | { kind: "grace-scheduled"; user: string; project: string; ms: number }
  | { kind: "image-built"; image: string; environment: string; ms: number; steps: number; log: string }
  | { kind: "image-build-failed"; image: string; environment: string; reason: string; log: string; detail: string }
  /** A pristine container joined the pool of template `spec` (a hash, never a user's name). */
  | { kind: "pool-filled"; spec: string; container: string; ms: number }
  /** A first login took a pooled container: renamed, attached and given the account in `ms`. */
  | { kind: "pool-claimed"; user: string; project: string; container: string; ms: number }
  /** A first login found no pooled container of its spec and took the normal path. */
  | { kind: "pool-miss"; user: string; project: string; spec: string }
  /** `drained`: its spec or image is no longer wanted; `capacity`: users needed the slot; `not-pristine`: found after a restart with a marker; `address-pool`: a user needed its block. */
  | { kind: "pool-removed"; spec: string; container: string; reason: string }
  | { kind: "warning"; message: string }
  /** `code` is from the closed catalog (core/error-codes.ts). */
  | { kind: "error"; code: ErrorCode; message: string; detail?: string };

export type Logger = (event: DaemonEvent) => void;

export function formatEvent(event: DaemonEvent, now = new Date()): string {
  const { kind, ...fields } = event;
  const kv = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === "string" && /[\s"=]/.test(v) ? JSON.stringify(v) : String(v)}`)
    .join(" ");
  return `${now.toISOString()} ${kind}${kv ? " " + kv : ""}\n`;
}

export function stderrLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  return (event) => {
    stream.write(formatEvent(event));
  };
}

import { InputError } from "../errors.js";
import { validateUsername } from "../users/username.js";

/**
 * The root-only control socket between admin commands and the node daemon: one JSON request line,
 * one JSON response line, then the connection closes. Shared by both sides so they cannot drift.
 */
export type ControlRequest =
  /** Re-read the key registry (after add-user, remove-user, sync). */
  | { readonly op: "reload" }
  | { readonly op: "status" }
  /** The daemon's metrics in the Prometheus text format (`podspawn metrics`). */
  | { readonly op: "metrics" }
  /** End every container and session of one user (remove-user, sync). */
  | { readonly op: "evict"; readonly user: string };

export type ControlOp = ControlRequest["op"];

export interface SessionInfo {
  readonly user: string;
  readonly project: string;
  readonly container: string;
  /** ISO 8601 time the session started. */
  readonly since: string;
}

export interface ContainerInfo {
  readonly name: string;
  /** Short engine id. */
  readonly id: string;
  readonly user: string;
  readonly project: string;
  readonly state: string;
  readonly sessions: number;
}

export interface ControlError {
  readonly ok: false;
  readonly error: string;
}
export interface ReloadResponse {
  readonly ok: true;
  readonly users?: number;
}
export interface StatusResponse {
  readonly ok: true;
  readonly sessions: readonly SessionInfo[];
  readonly containers: readonly ContainerInfo[];
}
export interface EvictResponse {
  readonly ok: true;
  readonly removed: number;
}
export interface MetricsResponse {
  readonly ok: true;
  readonly text: string;
}

export interface ResponseByOp {
  reload: ReloadResponse;
  status: StatusResponse;
  evict: EvictResponse;
  metrics: MetricsResponse;
}
export type ControlResponse = ReloadResponse | StatusResponse | EvictResponse | MetricsResponse | ControlError;
export type ResponseFor<R extends ControlRequest> = ResponseByOp[R["op"]] | ControlError;

/** Longest line either side accepts: a status of many sessions fits, a runaway peer does not. */
export const MAX_CONTROL_LINE = 1024 * 1024;

const ALLOWED = '{"op":"reload"}, {"op":"status"}, {"op":"metrics"} or {"op":"evict","user":NAME}';

/** Server side: parse and validate one request line; anything unexpected is an InputError. */
export function parseControlRequest(line: string): ControlRequest {
  if (line.length > MAX_CONTROL_LINE) throw new InputError("control request", "is too long", ALLOWED);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new InputError("control request", "is not JSON", ALLOWED);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new InputError("control request", "is not a JSON object", ALLOWED);
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort().join(",");
  switch (obj["op"]) {
    case "reload":
    case "status":
    case "metrics":
      if (keys !== "op") throw new InputError("control request", `unexpected fields for op ${String(obj["op"])}: ${keys}`, ALLOWED);
      return { op: obj["op"] };
    case "evict":
      if (keys !== "op,user") throw new InputError("control request", `op evict needs exactly op and user, got ${keys}`, ALLOWED);
      return { op: "evict", user: validateUsername(obj["user"], "control request user") };
    default:
      throw new InputError("control request", `unknown op ${JSON.stringify(obj["op"])}`, ALLOWED);
  }
}

/** Client side: check the shape we rely on before using a response; throws a plain Error if off. */
export function parseControlResponse<R extends ControlRequest>(request: R, line: string): ResponseFor<R> {
  const value: unknown = JSON.parse(line);
  if (typeof value !== "object" || value === null) throw new Error("control response is not a JSON object");
  const obj = value as Record<string, unknown>;
  if (obj["ok"] === false) {
    if (typeof obj["error"] !== "string") throw new Error("control error response has no error message");
    return obj as unknown as ControlError;
  }
  if (obj["ok"] !== true) throw new Error("control response has no ok field");
  if (request.op === "status" && (!Array.isArray(obj["sessions"]) || !Array.isArray(obj["containers"]))) {
    throw new Error("status response lacks sessions or containers");
  }
  if (request.op === "evict" && typeof obj["removed"] !== "number") throw new Error("evict response lacks removed");
  if (request.op === "metrics" && typeof obj["text"] !== "string") throw new Error("metrics response lacks text");
  return obj as unknown as ResponseFor<R>;
}

export function formatControlLine(message: ControlRequest | ControlResponse): string {
  return JSON.stringify(message) + "\n";
}

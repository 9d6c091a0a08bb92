import { validateProject } from "../container/project.js";
import { InputError } from "../errors.js";
import { validateDrainReason, type DrainState } from "../host/drain.js";
import { validateUsername } from "../users/username.js";

/**
 * The root-only control socket between admin commands and the node daemon: one JSON request line,
 * one JSON response line, then the connection closes. Every operation is declared once in
 * CONTROL_OPS (its request fields with their parsers, and the check a response must pass), and the
 * request, response and parser types are derived from that table; the daemon's handlers are a
 * table keyed by the same names (daemon/control/control-server.ts), so the compiler wants one
 * for every op.
 */

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

/** One environment for `podspawn list`. */
export interface ListedEnvironment {
  readonly user: string;
  readonly project: string;
  /** The container's name. */
  readonly container: string;
  /** Short engine id. */
  readonly id: string;
  /** `in-use` (sessions connected), `idle` (waiting out the grace period), `stopped` (the engine says it is not running), `unknown` (the engine did not answer). */
  readonly status: "in-use" | "idle" | "stopped" | "unknown";
  readonly sessions: number;
  /** ISO 8601: when the engine created the container. */
  readonly createdAt: string;
  /** ISO 8601: when max_lifetime removes it, or null without a lifetime. */
  readonly expiresAt: string | null;
}

/** Blocks of the daemon's address pool for user networks, or null when the daemon has none. */
export interface AddressPoolReport {
  readonly used: number;
  readonly free: number;
}

/** Parses one request field; throws an InputError naming `field`. */
type FieldParser<T> = (value: unknown, field: string) => T;

interface OpDeclaration<Fields, Body> {
  /** For the error that lists what is allowed. */
  readonly example: string;
  readonly fields: { readonly [K in keyof Fields]: FieldParser<Fields[K]> };
  /** What a success response lacks that callers rely on, or null if it has it all. */
  readonly lacks: (response: Readonly<Record<string, unknown>>) => string | null;
  /** Carries the types only; never read. */
  readonly types?: { readonly fields: Fields; readonly body: Body };
}

function op<Fields extends object, Body extends object>(declaration: OpDeclaration<Fields, Body>): OpDeclaration<Fields, Body> {
  return declaration;
}

const nothing = (): null => null;

function parseBoolean(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw new InputError(field, `expected true or false, got ${JSON.stringify(value)}`);
  return value;
}

export const CONTROL_OPS = {
  /** Re-read the key registry and config (after add-user, remove-user, sync). */
  reload: op<object, { readonly users?: number }>({ example: '{"op":"reload"}', fields: {}, lacks: nothing }),
  status: op<object, { readonly sessions: readonly SessionInfo[]; readonly containers: readonly ContainerInfo[] }>({
    example: '{"op":"status"}',
    fields: {},
    lacks: (r) => (Array.isArray(r["sessions"]) && Array.isArray(r["containers"]) ? null : "sessions or containers"),
  }),
  /** The daemon's metrics in the Prometheus text format (`podspawn metrics`). */
  metrics: op<object, { readonly text: string }>({ example: '{"op":"metrics"}', fields: {}, lacks: (r) => (typeof r["text"] === "string" ? null : "text") }),
  /** End every container and session of one user (remove-user, sync). */
  evict: op<{ readonly user: string }, { readonly removed: number }>({
    example: '{"op":"evict","user":NAME}',
    fields: { user: (v, field) => validateUsername(v, field) },
    lacks: (r) => (typeof r["removed"] === "number" ? null : "removed"),
  }),
  /** Every environment with its status, age and lifetime (`podspawn list`). */
  list: op<object, { readonly environments: readonly ListedEnvironment[] }>({
    example: '{"op":"list"}',
    fields: {},
    lacks: (r) => (Array.isArray(r["environments"]) ? null : "environments"),
  }),
  /**
   * End a user's sessions (each told so in one line) and remove their environments, or the one of
   * `project`; with `purge` their persistent home volumes too (`podspawn stop`).
   */
  stop: op<{ readonly user: string; readonly project: string | null; readonly purge: boolean }, { readonly environments: number; readonly sessions: number; readonly volumes: number }>({
    example: '{"op":"stop","user":NAME,"project":NAME|null,"purge":false}',
    fields: {
      user: (v, field) => validateUsername(v, field),
      project: (v, field) => (v === null ? null : validateProject(v, field)),
      purge: parseBoolean,
    },
    lacks: (r) => (["environments", "sessions", "volumes"].every((k) => typeof r[k] === "number") ? null : "environments, sessions or volumes"),
  }),
  /** What limits new environments on this node (`podspawn doctor`). */
  capacity: op<object, { readonly addressPool: AddressPoolReport | null }>({
    example: '{"op":"capacity"}',
    fields: {},
    lacks: (r) => (r["addressPool"] === null || (typeof r["addressPool"] === "object" && r["addressPool"] !== null) ? null : "addressPool"),
  }),
  /**
   * Drain (or open) the node for new environments; the state survives a daemon restart. Answers
   * the state now, whether it was drained before, and the live sessions (`podspawn drain --wait`).
   */
  drain: op<{ readonly drain: boolean; readonly reason: string | null }, DrainState & { readonly wasDrained: boolean; readonly sessions: number }>({
    example: '{"op":"drain","drain":true|false,"reason":TEXT|null}',
    fields: {
      drain: (v, field) => {
        if (typeof v !== "boolean") throw new InputError(field, `expected true or false, got ${JSON.stringify(v)}`);
        return v;
      },
      reason: (v, field) => (v === null ? null : validateDrainReason(v, field)),
    },
    lacks: (r) => (typeof r["drained"] === "boolean" && typeof r["wasDrained"] === "boolean" && typeof r["sessions"] === "number" ? null : "drained, wasDrained or sessions"),
  }),
};

type Ops = typeof CONTROL_OPS;
export type ControlOp = keyof Ops;
type FieldsOf<K extends ControlOp> = NonNullable<Ops[K]["types"]>["fields"];
type BodyOf<K extends ControlOp> = NonNullable<Ops[K]["types"]>["body"];

export type RequestOf<K extends ControlOp> = { readonly op: K } & FieldsOf<K>;
export type ControlRequest = { [K in ControlOp]: RequestOf<K> }[ControlOp];

export interface ControlError {
  readonly ok: false;
  readonly error: string;
}
export type SuccessOf<K extends ControlOp> = { readonly ok: true } & BodyOf<K>;
export type ResponseByOp = { [K in ControlOp]: SuccessOf<K> };
export type ControlResponse = ResponseByOp[ControlOp] | ControlError;
export type ResponseFor<R extends ControlRequest> = ResponseByOp[R["op"]] | ControlError;

/** Longest line either side accepts: a status of many sessions fits, a runaway peer does not. */
export const MAX_CONTROL_LINE = 1024 * 1024;

const ALLOWED = Object.values(CONTROL_OPS)
  .map((o) => o.example)
  .join(", ");

function isOp(value: unknown): value is ControlOp {
  return typeof value === "string" && Object.hasOwn(CONTROL_OPS, value);
}

function parseObject(line: string): Record<string, unknown> {
  if (line.length > MAX_CONTROL_LINE) throw new InputError("control request", "is too long", ALLOWED);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new InputError("control request", "is not JSON", ALLOWED);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new InputError("control request", "is not a JSON object", ALLOWED);
  return value as Record<string, unknown>;
}

/** Server side: parse and validate one request line; anything unexpected is an InputError. */
export function parseControlRequest(line: string): ControlRequest {
  const obj = parseObject(line);
  const name = obj["op"];
  if (!isOp(name)) throw new InputError("control request", `unknown op ${JSON.stringify(name)}`, ALLOWED);
  const declared = CONTROL_OPS[name];
  const parsers = Object.entries(declared.fields as Record<string, FieldParser<unknown>>);
  const want = ["op", ...parsers.map(([field]) => field)].sort().join(",");
  const got = Object.keys(obj).sort().join(",");
  if (got !== want) throw new InputError("control request", `op ${name} takes exactly the fields ${want}, got ${got}`, declared.example);
  const request: Record<string, unknown> = { op: name };
  for (const [field, parse] of parsers) request[field] = parse(obj[field], `control request ${field}`);
  return request as ControlRequest;
}

/** Client side: check the shape we rely on before using a response; throws a plain Error if off. */
export function parseControlResponse<R extends ControlRequest>(request: R, line: string): ResponseFor<R> {
  const value: unknown = JSON.parse(line);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("control response is not a JSON object");
  const obj = value as Record<string, unknown>;
  if (obj["ok"] === false) {
    if (typeof obj["error"] !== "string") throw new Error("control error response has no error message");
    return obj as unknown as ControlError;
  }
  if (obj["ok"] !== true) throw new Error("control response has no ok field");
  const lacking = CONTROL_OPS[request.op].lacks(obj);
  if (lacking !== null) throw new Error(`${request.op} response lacks ${lacking}`);
  return obj as unknown as ResponseFor<R>;
}

export function formatControlLine(message: ControlRequest | ControlResponse): string {
  return JSON.stringify(message) + "\n";
}

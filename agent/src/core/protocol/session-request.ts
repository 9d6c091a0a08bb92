import { InputError } from "../errors.js";
import { parsePublicKey } from "../users/keys.js";
import { DEFAULT_PROJECT, validateProject } from "../container/project.js";
import { stdioOfferOf, type StdioOffer } from "./stdio-offer.js";

/**
 * What the spawn client asks for. Everything here came from the user's ssh client (command, TERM,
 * LANG, window size, project), so the daemon validates it before any of it reaches Docker: only
 * the argv inside the container may carry arbitrary text.
 */
export interface SessionRequest {
  readonly command: string | null;
  readonly tty: boolean;
  readonly cols: number;
  readonly rows: number;
  readonly term: string | null;
  readonly env: Readonly<Record<string, string>>;
  readonly project: string;
  /**
   * Fingerprint of the key sshd accepted (from SSH_USER_AUTH, ExposeAuthInfo), for the audit log
   * only: it decides nothing, so an absent or unparsable value is just null.
   */
  readonly keyFingerprint: string | null;
  /**
   * The client forwarded its ssh agent (sshd gave spawn an SSH_AUTH_SOCK). Only a yes or no: the
   * path is a host path, and the daemon never opens one the client names.
   */
  readonly agent: boolean;
  /**
   * spawn's pid and start time, when its stdin, stdout and stderr are pipes it offers for the direct path. Only a
   * claim: the daemon checks the process itself (core/direct-io/claimed-process.ts) before using it.
   */
  readonly stdio: StdioOffer | null;
}

export const MAX_COMMAND_BYTES = 256 * 1024;
const TERM_PATTERN = /^[A-Za-z0-9._+-]{1,64}$/;
const LOCALE_KEY = /^(LANG|LANGUAGE|LC_[A-Z]{1,20})$/;
const LOCALE_VALUE = /^[A-Za-z0-9._@:-]{0,64}$/;

function size(value: unknown, field: string): number {
  if (value === undefined || value === null || value === 0) return 0;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 10_000) {
    throw new InputError(field, `expected an integer 1-10000, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Validate the HELLO payload (already JSON-parsed). Unknown env names are dropped, not errors. */
export function parseSessionRequest(raw: unknown): SessionRequest {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new InputError("hello", "expected an object");
  const r = raw as Record<string, unknown>;
  if (r["v"] !== 1) throw new InputError("hello.v", `unsupported protocol version ${JSON.stringify(r["v"])}`, "1");
  const command = r["command"];
  if (command !== null && command !== undefined && typeof command !== "string") throw new InputError("command", "expected a string");
  if (typeof command === "string" && Buffer.byteLength(command) > MAX_COMMAND_BYTES) {
    throw new InputError("command", `is longer than ${MAX_COMMAND_BYTES} bytes`);
  }
  if (typeof command === "string" && command.includes("\0")) throw new InputError("command", "contains a NUL byte");
  const term = r["term"];
  if (term !== null && term !== undefined && (typeof term !== "string" || !TERM_PATTERN.test(term))) {
    throw new InputError("TERM", `${JSON.stringify(term)} is not a terminal name`, "letters, digits and . _ + -");
  }
  const env: Record<string, string> = {};
  const rawEnv = r["env"];
  if (rawEnv !== undefined && rawEnv !== null) {
    if (typeof rawEnv !== "object" || Array.isArray(rawEnv)) throw new InputError("env", "expected an object");
    for (const [k, v] of Object.entries(rawEnv as Record<string, unknown>)) {
      if (LOCALE_KEY.test(k) && typeof v === "string" && LOCALE_VALUE.test(v)) env[k] = v;
    }
  }
  const projectRaw = r["project"];
  const project = projectRaw === undefined || projectRaw === null || projectRaw === "" ? DEFAULT_PROJECT : validateProject(projectRaw, "PODSPAWN_PROJECT");
  return {
    command: typeof command === "string" && command.trim() !== "" ? command : null,
    tty: r["tty"] === true,
    cols: size(r["cols"], "cols"),
    rows: size(r["rows"], "rows"),
    term: typeof term === "string" ? term : null,
    env,
    project,
    keyFingerprint: fingerprintOfAuthKey(r["authKey"]),
    agent: r["agent"] === true,
    stdio: stdioOfferOf(r["stdio"]),
  };
}

function fingerprintOfAuthKey(value: unknown): string | null {
  if (typeof value !== "string" || value.length > 16 * 1024) return null;
  try {
    return parsePublicKey(value).fingerprint;
  } catch {
    return null;
  }
}

export function parseResize(raw: unknown): { cols: number; rows: number } {
  const r = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  return { cols: size(r["cols"], "cols") || 80, rows: size(r["rows"], "rows") || 24 };
}

/** Signals a client may forward. Anything else is ignored rather than passed to kill(2). */
export const FORWARDED_SIGNALS = ["SIGHUP", "SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];
export function parseSignal(name: string): ForwardedSignal | null {
  return (FORWARDED_SIGNALS as readonly string[]).includes(name) ? (name as ForwardedSignal) : null;
}

import { InputError } from "../errors.js";

/**
 * The one parser for each unit a person types: durations, byte sizes, TCP ports. Config files,
 * CLI flags and wire formats all come here. No schema library on purpose: the hot-path bundles
 * (spawn, auth-keys) may use these, and the zod pieces in unit-schemas.ts wrap them.
 */

/** A parse result that says what was wrong instead of throwing, so callers choose the error's shape. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (problem: string): Parsed<never> => ({ ok: false, problem });

function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null || value === undefined) return String(value);
  return Array.isArray(value) ? "a list" : typeof value === "object" ? "a mapping" : `${typeof value} ${String(value)}`;
}

export interface UnitSpec {
  /** The noun in "x is not <what>". */
  readonly what: string;
  /** What an error offers instead. */
  readonly allowed: string;
  /** The text form, as a RegExp and JSON Schema `pattern` source. */
  readonly pattern: string;
}

// ---- durations ----------------------------------------------------------------------------------

export const DURATION: UnitSpec = {
  what: "a duration",
  allowed: "0, 250ms, 30s, 5m, 8h, 1d; a bare number is seconds",
  pattern: "^\\s*(\\d{1,15})(ms|s|m|h|d)?\\s*$",
};
const DURATION_TEXT = new RegExp(DURATION.pattern);
const MS_PER = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type DurationUnit = keyof typeof MS_PER;

/** `0`, `250ms`, `30s`, `5m`, `8h`, `1d`; a bare number (text or YAML number) is seconds. */
export function readDurationMs(value: unknown): Parsed<number> {
  let amount: number;
  let unit: DurationUnit = "s";
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) return bad(`${shown(value)} is not ${DURATION.what}`);
    amount = value;
  } else if (typeof value === "string") {
    const m = DURATION_TEXT.exec(value);
    if (!m) return bad(`${shown(value)} is not ${DURATION.what}`);
    amount = Number(m[1]);
    unit = (m[2] ?? "s") as DurationUnit;
  } else {
    return bad(`expected ${DURATION.what}, got ${shown(value)}`);
  }
  const ms = amount * MS_PER[unit];
  return Number.isSafeInteger(ms) ? ok(ms) : bad(`${shown(value)} is too long`);
}

export function parseDurationMs(value: unknown, field: string): number {
  const r = readDurationMs(value);
  if (!r.ok) throw new InputError(field, r.problem, DURATION.allowed);
  return r.value;
}

/** The shortest text that reads back as `ms` exactly (the largest unit that divides it). */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return "0";
  for (const unit of ["d", "h", "m", "s"] as const) if (ms % MS_PER[unit] === 0) return `${ms / MS_PER[unit]}${unit}`;
  return `${ms}ms`;
}

// ---- byte sizes ---------------------------------------------------------------------------------

export const BYTE_SIZE: UnitSpec = {
  what: "a size",
  allowed: "512m, 2g, 1t, 2GiB: k, m, g, t are 1024-based; a bare number is bytes",
  pattern: "^\\s*(\\d{1,16})(?:([kKmMgGtT])[iI]?[bB]?)?\\s*$",
};
const BYTES_TEXT = new RegExp(BYTE_SIZE.pattern);
const BYTES_PER = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 } as const;

/** A byte count: a whole number, or digits with a binary unit (`512m`, `2g`, `1t`, `3MiB`, `1KB`). */
export function readBytes(value: unknown): Parsed<number> {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value >= 0 ? ok(value) : bad(`${shown(value)} is not a whole number of bytes`);
  }
  if (typeof value !== "string") return bad(`expected ${BYTE_SIZE.what}, got ${shown(value)}`);
  const m = BYTES_TEXT.exec(value);
  if (!m) return bad(`${shown(value)} is not ${BYTE_SIZE.what}`);
  const bytes = Number(m[1]) * BYTES_PER[(m[2] ?? "").toLowerCase() as keyof typeof BYTES_PER];
  return Number.isSafeInteger(bytes) ? ok(bytes) : bad(`${shown(value)} is too large`);
}

export function parseBytes(value: unknown, field: string): number {
  const r = readBytes(value);
  if (!r.ok) throw new InputError(field, r.problem, BYTE_SIZE.allowed);
  return r.value;
}

/** The shortest text that reads back as `bytes` exactly. */
export function formatBytes(bytes: number): string {
  for (const unit of ["t", "g", "m", "k"] as const) if (bytes !== 0 && bytes % BYTES_PER[unit] === 0) return `${bytes / BYTES_PER[unit]}${unit}`;
  return String(bytes);
}

// ---- TCP ports ----------------------------------------------------------------------------------

export const PORT: UnitSpec = {
  what: "a port",
  allowed: "1-65535",
  pattern: "^(0|[1-9][0-9]{0,4})$",
};
const PORT_TEXT = new RegExp(PORT.pattern);

export interface PortOptions {
  /** Accept 0 ("any free port", for a listener). @default false */
  readonly allowZero?: boolean;
}

export function portAllowed(opts: PortOptions = {}): string {
  return opts.allowZero ? "0-65535 (0: any free port)" : PORT.allowed;
}

/** A TCP port: an integer, or its decimal text with no sign, blanks or leading zeros. */
export function readPort(value: unknown, opts: PortOptions = {}): Parsed<number> {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && PORT_TEXT.test(value)) n = Number(value);
  else return bad(`${shown(value)} is not ${PORT.what}`);
  const min = opts.allowZero ? 0 : 1;
  return Number.isInteger(n) && n >= min && n <= 65535 ? ok(n) : bad(`${shown(value)} is not ${PORT.what}`);
}

export function parsePort(value: unknown, field: string, opts: PortOptions = {}): number {
  const r = readPort(value, opts);
  if (!r.ok) throw new InputError(field, r.problem, portAllowed(opts));
  return r.value;
}

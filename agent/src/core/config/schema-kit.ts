import * as z from "zod";
import { InputError } from "../errors.js";
import { fieldAt, type FieldPath } from "./field-path.js";
import { nearestName } from "./nearest-name.js";
import type { Parsed } from "./units.js";
import { readYaml, type YamlLimits } from "./yaml-source.js";

/**
 * One way to validate every config format: a zod schema is the source of the types (`z.output`),
 * the defaults and the JSON Schema, and every refusal becomes one InputError worded the same way:
 *   users.yaml:7: users[1].keys[0]: malformed ssh-ed25519 key: truncated (allowed: ...)
 *   config.yaml:3: packges: unknown field; did you mean packages? (allowed: image, packages, ...)
 */

/** The parsed value as callers see it: nothing in a validated config is changed afterwards. */
export type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** How a field's refusals read: "x is not <what>" and "(allowed: <allowed>)". */
export interface FieldHint {
  readonly what?: string;
  readonly allowed?: string;
}

const HINTS = z.registry<FieldHint>();

/** Give a schema its wording. Returns the same schema, so it reads inline. */
export function hint<T extends z.ZodType>(schema: T, h: FieldHint): T {
  HINTS.add(schema, h);
  return schema;
}

/**
 * What the error map tells the formatter. Zod keeps only a message string per issue, so the
 * parts travel JSON-encoded behind a marker no user text can start with (it starts with NUL).
 */
interface Said {
  readonly problem: string;
  readonly allowed?: string | undefined;
  /** For an unknown key: the key, appended to the issue's path. */
  readonly key?: string;
}
const MARK = "\u0000podspawn-issue:";
const say = (...said: Said[]): string => MARK + JSON.stringify(said);
const heard = (message: string): Said[] | undefined => (message.startsWith(MARK) ? (JSON.parse(message.slice(MARK.length)) as Said[]) : undefined);

/** A refusal from inside a schema (`superRefine`, `transform`), worded like every other one. */
export function refuse<T>(ctx: z.core.$RefinementCtx<T>, problem: string, opts: { allowed?: string | undefined; path?: FieldPath } = {}): void {
  ctx.addIssue({ code: "custom", message: say({ problem, allowed: opts.allowed }), input: ctx.value, ...(opts.path ? { path: [...opts.path] } : {}) });
}

/** One of our InputError-throwing validators as a zod transform; its problem and allowed text carry over. */
export function via<I, O>(validate: (value: I) => O) {
  return (value: I, ctx: z.core.$RefinementCtx<I>): O => {
    try {
      return validate(value);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      refuse(ctx, err.problem, { allowed: err.allowed });
      return z.NEVER;
    }
  };
}

/** A units.ts reader as a zod transform. */
export function viaParsed<O>(read: (value: unknown) => Parsed<O>, allowed: string) {
  return (value: unknown, ctx: z.core.$RefinementCtx<unknown>): O => {
    const r = read(value);
    if (r.ok) return r.value;
    refuse(ctx, r.problem, { allowed });
    return z.NEVER;
  };
}

/**
 * Left out, or left empty (`key:` in YAML is null), both mean the default, which is written the
 * way a user would write it (`"60s"`, `{}`) and goes through the schema once, at load.
 */
export function defaulted<T extends z.ZodType>(schema: T, input: z.input<T>) {
  const value = schema.parse(input) as z.output<T>;
  return schema.nullish().transform((v): z.output<T> => (v ?? value) as z.output<T>);
}

/** A mapping whose every field has a default, so leaving it out (or empty) means all defaults. */
export function section<S extends z.ZodRawShape>(shape: S) {
  const schema = z.strictObject(shape);
  return defaulted(schema, {} as z.input<typeof schema>);
}

export function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return typeof value === "object" ? "a mapping" : `${typeof value} ${String(value)}`;
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  tuple: "a list",
  object: "a mapping",
  record: "a mapping",
  null: "null",
};
const typeWord = (expected: string): string => TYPE_WORDS[expected] ?? expected;

function sizeProblem(iss: z.core.$ZodRawIssue<z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig>, limit: number, small: boolean): string {
  if (iss.origin === "string") return small && limit === 1 ? "is empty" : `is ${small ? "shorter" : "longer"} than ${limit} characters`;
  if (iss.origin === "array" || iss.origin === "set") return small && limit === 1 ? "is empty" : `has ${small ? "fewer" : "more"} than ${limit} items`;
  const exclusive = iss.inclusive === false;
  return `${shown(iss.input)} is ${small ? (exclusive ? "not above" : "below") : exclusive ? "not below" : "above"} ${limit}`;
}

function unknownKeys(iss: z.core.$ZodRawIssue<z.core.$ZodIssueUnrecognizedKeys>): string {
  const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape ?? {};
  const known = Object.keys(shape);
  return say(
    ...iss.keys.map((key) => {
      const near = nearestName(key, known);
      return { key, problem: near ? `unknown field; did you mean ${near}?` : "unknown field", allowed: known.join(", ") };
    }),
  );
}

/** Our wording for every issue zod raises. Unions without a hint are left to the formatter. */
function errorMap(iss: z.core.$ZodRawIssue): string | undefined {
  const h = HINTS.get((iss.schema ?? iss.inst) as z.ZodType) ?? {};
  const allowed = h.allowed;
  switch (iss.code) {
    case "unrecognized_keys":
      return unknownKeys(iss);
    case "invalid_type":
      if (iss.input === undefined) return say({ problem: "is required", allowed: allowed ?? h.what ?? typeWord(iss.expected) });
      return say({ problem: `expected ${h.what ?? typeWord(iss.expected)}, got ${shown(iss.input)}`, allowed });
    case "invalid_union":
      return h.what ? say({ problem: `expected ${h.what}, got ${shown(iss.input)}`, allowed }) : undefined;
  }
  if (h.what) return say({ problem: `${shown(iss.input)} is not ${h.what}`, allowed });
  switch (iss.code) {
    case "too_small":
      return say({ problem: sizeProblem(iss, Number(iss.minimum), true), allowed });
    case "too_big":
      return say({ problem: sizeProblem(iss, Number(iss.maximum), false), allowed });
    case "invalid_value": {
      if (iss.values.length === 1) return say({ problem: `expected ${JSON.stringify(iss.values[0])}, got ${shown(iss.input)}`, allowed });
      return say({ problem: `${shown(iss.input)} is not one of the choices`, allowed: allowed ?? iss.values.map(String).join(", ") });
    }
    case "not_multiple_of":
      return say({ problem: `${shown(iss.input)} is not a multiple of ${iss.divisor}`, allowed });
    default:
      return say({ problem: `${shown(iss.input)} is not valid`, allowed });
  }
}

interface Finding {
  readonly path: FieldPath;
  readonly problem: string;
  readonly allowed?: string | undefined;
}

const pathOf = (prefix: FieldPath, path: readonly PropertyKey[]): FieldPath => [...prefix, ...path.map((p) => (typeof p === "number" ? p : String(p)))];

/** Flattens issues; for a union that nothing matched, follows the branch that got furthest. */
function findings(issues: readonly z.core.$ZodIssue[], prefix: FieldPath): Finding[] {
  return issues.flatMap((iss): Finding[] => {
    const path = pathOf(prefix, iss.path);
    const said = heard(iss.message);
    if (said) return said.map((s) => ({ path: s.key === undefined ? path : [...path, s.key], problem: s.problem, allowed: s.allowed }));
    if (iss.code === "invalid_union" && iss.errors.length > 0) {
      const depth = (branch: readonly z.core.$ZodIssue[]): number => Math.max(...branch.map((b) => b.path.length));
      const best = iss.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
      return findings(best, path);
    }
    return [{ path, problem: iss.message }];
  });
}

/** Where a value came from, so errors can name the file and line. */
export interface Origin {
  readonly file?: string;
  readonly lineOf?: (path: FieldPath) => number | undefined;
}

/** Validates `value`; the first problem (in document order when lines are known) becomes an InputError. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, origin: Origin = {}): z.output<S> {
  const result = schema.safeParse(value, { error: errorMap });
  if (result.success) return result.data;
  const all = findings(result.error.issues, []).map((f, order) => ({ ...f, order, line: origin.lineOf?.(f.path) }));
  all.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || a.order - b.order);
  const first = all[0];
  if (!first) throw new InputError(fieldAt([], origin.file), "is not valid");
  throw new InputError(fieldAt(first.path, origin.file, first.line), first.problem, first.allowed);
}

/** YAML text through the safe reader, then the schema; errors read `file:line: path: problem`. */
export function parseYamlWith<S extends z.ZodType>(schema: S, text: string, file: string, limits?: Partial<YamlLimits>): z.output<S> {
  const source = readYaml(text, file, limits);
  return validate(schema, source.value, source);
}

export interface JsonSchemaHead {
  readonly $id: string;
  readonly title: string;
  readonly description: string;
}

/** The JSON Schema (draft 2020-12) of what a user may write: the input side of every transform. */
export function jsonSchemaOf(schema: z.ZodType, head: JsonSchemaHead): Record<string, unknown> {
  const { $schema, ...body } = z.toJSONSchema(schema, { target: "draft-2020-12", io: "input", unrepresentable: "throw" }) as Record<string, unknown>;
  return { $schema, ...head, ...body };
}

import { parseArgs } from "node:util";
import { InputError } from "../core/errors.js";
import { renderSynopsis } from "./usage.js";

/**
 * A command's command line, declared once: `util.parseArgs` options, the checks after parsing and
 * the `--help` text (./usage.ts) are all derived from it, so the help cannot drift from the parser.
 */

export interface FlagSpec {
  readonly type: "string" | "boolean";
  /** The flag may repeat; its value is every occurrence in order. */
  readonly multiple?: boolean;
  /** Given to the command when the flag is absent (string flags only). */
  readonly default?: string;
  /** For a default the parser cannot know (an env var, the running binary): help text only. */
  readonly defaultText?: string;
  /** The flag must be given (string flags only). */
  readonly required?: boolean;
  /** The only values allowed (string flags only). */
  readonly choices?: readonly string[];
  /** The value's placeholder in the help: `--sshd-config PATH`. @default "VALUE" */
  readonly value?: string;
  /** One or more lines for the help. */
  readonly description: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export interface ArgSpec {
  readonly name: string;
  readonly description?: string;
  /** Only trailing arguments may be optional. */
  readonly optional?: boolean;
}

export interface CommandSpec<F extends FlagSpecs = FlagSpecs> {
  readonly name: string;
  /** One line for `podspawn --help`. */
  readonly summary: string;
  readonly args?: readonly ArgSpec[];
  /** Everything after a `--`, handed over untouched (e.g. options for a program we run). */
  readonly rest?: ArgSpec;
  readonly flags: F;
  /** What the command does: paragraphs below the usage line, already wrapped. */
  readonly description: string;
  /** Text after the flag list: examples, tips. */
  readonly notes?: string;
}

type FlagValue<S extends FlagSpec> = S extends { type: "boolean" }
  ? boolean
  : S extends { multiple: true }
    ? readonly string[]
    : S extends { default: string } | { required: true }
      ? string
      : string | undefined;

export type FlagValues<F extends FlagSpecs> = { readonly [K in keyof F]: FlagValue<F[K]> };

export interface ParsedCommandLine<F extends FlagSpecs> {
  readonly flags: FlagValues<F>;
  /** Positional arguments, their count checked against the declaration. */
  readonly args: readonly string[];
  /** What followed `--` (only for a spec with `rest`). */
  readonly rest: readonly string[];
}

function parseArgsOptions(flags: FlagSpecs): Record<string, { type: "string" | "boolean"; multiple?: boolean }> {
  return Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, f.multiple ? { type: f.type, multiple: true } : { type: f.type }]));
}

function checkArgCount(spec: CommandSpec, args: readonly string[]): void {
  const declared = spec.args ?? [];
  const min = declared.filter((a) => !a.optional).length;
  if (args.length >= min && args.length <= declared.length) return;
  const usage = renderSynopsis(spec).replace(/\s+/g, " ");
  if (declared.length === 0) throw new InputError(spec.name, "takes no arguments", usage);
  const names = declared.map((a) => (a.optional ? `[${a.name}]` : a.name)).join(" ");
  throw new InputError(spec.name, `expected ${names}, got ${args.length} argument(s)`, usage);
}

function checkedValue(name: string, spec: FlagSpec, raw: unknown): unknown {
  if (spec.type === "boolean") return raw === true;
  if (spec.multiple) return raw ?? [];
  if (raw === undefined) {
    if (spec.required) throw new InputError(`--${name}`, "is required", `--${name} ${spec.value ?? "VALUE"}`);
    return spec.default;
  }
  if (spec.choices && !spec.choices.includes(raw as string)) throw new InputError(`--${name}`, `${JSON.stringify(raw)} is not a valid value`, spec.choices.join(", "));
  return raw;
}

/** Parse argv for `spec`; every problem is an InputError naming the flag or the command. */
export function parseCommandLine<F extends FlagSpecs>(spec: CommandSpec<F>, argv: readonly string[]): ParsedCommandLine<F> {
  const dashes = spec.rest ? argv.indexOf("--") : -1;
  const own = dashes === -1 ? argv : argv.slice(0, dashes);
  let parsed;
  try {
    parsed = parseArgs({ args: [...own], options: parseArgsOptions(spec.flags), allowPositionals: true, strict: true });
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new InputError(`${spec.name} flags`, msg, `see 'podspawn ${spec.name} --help'`);
  }
  checkArgCount(spec, parsed.positionals);
  const values = parsed.values as Record<string, unknown>;
  const flags = Object.fromEntries(Object.entries(spec.flags).map(([name, f]) => [name, checkedValue(name, f, values[name])]));
  return { flags: flags as FlagValues<F>, args: parsed.positionals, rest: dashes === -1 ? [] : argv.slice(dashes + 1) };
}

import { parseArgs } from "node:util";
import { InputError } from "../core/errors.js";
import type { CommandSpec, FlagSpec, FlagSpecs } from "./command-spec.js";
import { renderSynopsis } from "./usage.js";

export type { ArgSpec, CommandSpec, FlagSpec, FlagSpecs } from "./command-spec.js";

// The parsing half of a declared command line (./command-spec.ts); ./usage.ts renders the help.

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

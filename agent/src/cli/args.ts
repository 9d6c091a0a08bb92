import { parseArgs, type ParseArgsConfig } from "node:util";
import { InputError } from "../core/errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * `util.parseArgs` with our error style: unknown flags and missing values become InputErrors that
 * name the flag, so every command reports bad flags the same way.
 */
export function parseFlags<O extends Options>(command: string, argv: readonly string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new InputError(`${command} flags`, msg, `see 'podspawn ${command} --help'`);
  }
}

/** Parse a duration like `90s`, `5m`, `2h`, `0` into milliseconds. */
export function parseDuration(value: string, field: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new InputError(field, `${JSON.stringify(value)} is not a duration`, "a whole number with ms, s, m, h or d, e.g. 60s");
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] as number;
  return n * factor;
}

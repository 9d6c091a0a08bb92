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

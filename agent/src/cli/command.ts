import type { Layout } from "../core/host/layout.js";
import { parseCommandLine, type CommandSpec, type FlagSpecs, type ParsedCommandLine } from "./flags.js";
import { renderUsage } from "./usage.js";

/** What a command may touch, injected so commands are testable without a real terminal or host. */
export interface CommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly layout: Layout;
}

export interface Command {
  readonly name: string;
  /** One line for `podspawn --help`. */
  readonly summary: string;
  /** Full usage text for `podspawn <name> --help`. */
  readonly usage: string;
  /** The declaration `usage` and the parser come from; absent only for the hot-path `spawn`. */
  readonly spec?: CommandSpec;
  /** Returns the process exit code. Throws InputError for bad input (printed as one line, exit 2). */
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

/** A command whose parser and `--help` both come from one declaration. */
export function defineCommand<const F extends FlagSpecs>(spec: CommandSpec<F>, run: (line: ParsedCommandLine<F>, io: CommandIo) => Promise<number>): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    usage: renderUsage(spec),
    spec,
    run: (argv, io) => run(parseCommandLine(spec, argv), io),
  };
}

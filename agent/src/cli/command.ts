import type { Layout } from "../core/host/layout.js";

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
  /** Full usage text for `podspawn <name> --help`; must match the flags `run` parses. */
  readonly usage: string;
  /** Returns the process exit code. Throws InputError for bad input (printed as one line, exit 2). */
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

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

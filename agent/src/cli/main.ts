import { describeError, InputError, UserFacingError } from "../core/errors.js";
import { layoutFromEnv } from "../core/host/layout.js";
import { VERSION_LINE } from "../core/version.js";
import type { Command, CommandIo } from "./command.js";
import { COMMANDS } from "./registry.js";

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "podspawn: ephemeral SSH dev containers on native OpenSSH",
    "",
    "Usage: podspawn <command> [flags]     podspawn <command> --help",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
  ].join("\n");
}

/** The dispatcher: finds the command, prints help, turns errors into one line and an exit code. */
export async function main(argv: readonly string[], partialIo: Partial<CommandIo> = {}): Promise<number> {
  const io: CommandIo = {
    stdout: partialIo.stdout ?? process.stdout,
    stderr: partialIo.stderr ?? process.stderr,
    env: partialIo.env ?? process.env,
    layout: partialIo.layout ?? layoutFromEnv(partialIo.env ?? process.env),
  };
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? io.stderr : io.stdout).write(overview());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version") {
    io.stdout.write(`${VERSION_LINE}\n`);
    return 0;
  }
  const command: Command | undefined = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`podspawn: unknown command ${JSON.stringify(name)}; run 'podspawn --help' for the list\n`);
    return 2;
  }
  // After `--` the words belong to another program (forward's ssh options).
  const own = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  if (own.includes("--help") || own.includes("-h")) {
    io.stdout.write(command.usage.endsWith("\n") ? command.usage : command.usage + "\n");
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof InputError) {
      io.stderr.write(`podspawn ${command.name}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof UserFacingError) {
      io.stderr.write(`podspawn ${command.name}: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`podspawn ${command.name}: internal error: ${describeError(err)}\n`);
    if (io.env["PODSPAWN_DEBUG"] && err instanceof Error && err.stack) io.stderr.write(err.stack + "\n");
    return 1;
  }
}

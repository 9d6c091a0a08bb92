import { checkSshFlags, podDestination } from "../../../core/fleet/ssh-argv.js";
import { InputError, UserFacingError } from "../../../core/errors.js";
import { runInteractive, type RunInteractive } from "../../../adapters/process/run-interactive.js";
import { defineCommand, type Command } from "../../command.js";
import type { CommandSpec } from "../../flags.js";

const SSH = {
  name: "ssh",
  summary: "ssh into an environment: podspawn ssh alice@web [ssh flags] [-- command]",
  args: [{ name: "NAME", description: "[user@]project (becomes project.pod), [user@]project.pod, or any ssh host" }],
  rest: { name: "COMMAND", description: "the command to run in the environment (none: a shell)" },
  flags: {},
  description: `Runs your ssh with every flag given between NAME and -- passed through untouched (port forwarding,
-v, -i KEY, -o Option=value...), then NAME, then COMMAND:
  podspawn ssh alice@work -L 8080:localhost:8080 -- make test
runs  ssh -L 8080:localhost:8080 alice@work.pod make test . A NAME whose host has no dot gets
'.pod'. The *.pod names resolve through the ssh config 'podspawn setup' writes. Words between NAME
and -- must be ssh options or their values; anything else is refused, so a command cannot be
mistaken for a flag. Exits with ssh's status.`,
  notes: `-L/-R/-D reach the node's own network on a podspawn node, where the node refuses them; for a
port inside your environment use 'podspawn forward'.`,
} as const satisfies CommandSpec;

/** `NAME [ssh flags] [-- COMMAND...]` -> ssh's argv. */
export function sshArgv(argv: readonly string[]): readonly string[] {
  const [name, ...rest] = argv;
  if (name === undefined) throw new InputError("NAME", "is required", "podspawn ssh [user@]project [ssh flags] [-- command]");
  const dashes = rest.indexOf("--");
  const flags = dashes < 0 ? rest : rest.slice(0, dashes);
  const command = dashes < 0 ? [] : rest.slice(dashes + 1);
  return [...checkSshFlags(flags), podDestination(name), ...command];
}

export function makeSshCommand(run: RunInteractive = runInteractive): Command {
  // The declaration gives --help; the flags are ssh's, so the argv is read by sshArgv, not parsed here.
  const declared = defineCommand(SSH, async () => 0);
  return {
    ...declared,
    run: async (argv, io) => {
      const args = sshArgv(argv);
      try {
        return await run("ssh", args, io.env);
      } catch (err) {
        throw new UserFacingError("no-ssh", `cannot run ssh: ${(err as Error).message}`, "install the OpenSSH client");
      }
    },
  };
}

export const sshCommand: Command = makeSshCommand();

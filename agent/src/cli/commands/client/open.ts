import { podDestination } from "../../../core/fleet/ssh-argv.js";
import { InputError, UserFacingError } from "../../../core/errors.js";
import { runInteractive, type RunInteractive } from "../../../adapters/process/run-interactive.js";
import { defineCommand, type Command } from "../../command.js";

/** `code --remote ssh-remote+NAME PATH`: the folder defaults to the user's home in the container. */
export function openArgv(name: string, path: string | undefined): string[] {
  const destination = podDestination(name);
  const at = destination.lastIndexOf("@");
  const folder = path ?? (at > 0 ? `/home/${destination.slice(0, at)}` : undefined);
  if (folder !== undefined && (!folder.startsWith("/") || /[\0\n]/.test(folder))) throw new InputError("PATH", `${JSON.stringify(folder)} is not an absolute path`, "an absolute path in the environment, e.g. /home/alice/src");
  return ["--remote", `ssh-remote+${destination}`, ...(folder === undefined ? [] : [folder])];
}

export function makeOpenCommand(run: RunInteractive = runInteractive): Command {
  return defineCommand(
    {
      name: "open",
      summary: "open an environment in VS Code (code --remote ssh-remote+NAME PATH)",
      args: [
        { name: "NAME", description: "[user@]project (becomes project.pod), [user@]project.pod, or any ssh host" },
        { name: "PATH", optional: true, description: "the folder to open, absolute (default: /home/<user> when NAME has a user)" },
      ],
      flags: { program: { type: "string", value: "PROGRAM", default: "code", description: "the editor's command line launcher: code, codium, cursor..." } },
      description: `Runs  PROGRAM --remote ssh-remote+NAME [PATH]  so the editor connects with its Remote-SSH
extension through your ssh config (the *.pod entries 'podspawn setup' writes). Exits with the
launcher's status.`,
      notes: `Remote-SSH needs port forwarding, which the plain podspawn session does not give (the node's sshd
forwards from the host); it works once the node offers the in-container sshd mode.`,
    },
    async ({ flags, args }, io) => {
      const argv = openArgv(args[0] ?? "", args[1]);
      try {
        return await run(flags.program, argv, io.env);
      } catch (err) {
        throw new UserFacingError("no-editor", `cannot run ${flags.program}: ${(err as Error).message}`, "install VS Code's 'code' command, or pass --program");
      }
    },
  );
}

export const openCommand: Command = makeOpenCommand();

import { runSpawn } from "../../spawn/client.js";
import type { Command } from "../command.js";

export const spawnCommand: Command = {
  name: "spawn",
  summary: "forced command run by sshd: relay this SSH session to the node daemon",
  usage: `Usage: podspawn spawn --user NAME [--project P]

Run by sshd as the forced command of a pod user's key (see 'podspawn auth-keys').
Reads SSH_ORIGINAL_COMMAND, SSH_TTY, TERM, LANG/LC_* and PODSPAWN_PROJECT, and relays
stdin/stdout/stderr, window size, signals and the exit status to and from the
container. NAME must be the login account running it. --project P selects the project
instead of PODSPAWN_PROJECT (a key line can pin its logins to one); none means the
node's default environment, and a project the node does not have is refused. Errors
are one line on stderr, exit status 255; an image build's steps are lines on stderr.
`,
  async run(argv, io) {
    return runSpawn(argv, io.layout, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: io.env });
  },
};

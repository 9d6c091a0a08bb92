import { AUTH_KEYS_USAGE, runAuthKeys } from "../../auth/auth-keys.js";
import type { Command } from "../command.js";

/** The same implementation as the hot-path bundle, reachable from the full CLI for debugging. */
export const authKeysCommand: Command = {
  name: "auth-keys",
  summary: "print the authorized key lines for a user (sshd's AuthorizedKeysCommand)",
  usage: `${AUTH_KEYS_USAGE}
Prints one 'restrict,pty,command="..." TYPE KEY' line per registered key of USER (only the key
matching TYPE and KEY when given). Unknown users print nothing and exit 0; internal errors print
nothing on stdout and exit non-zero. Used as: AuthorizedKeysCommand <command> auth-keys %u %t %k
`,
  async run(argv, io) {
    const { code } = await runAuthKeys(argv, io.layout, io);
    return code;
  },
};

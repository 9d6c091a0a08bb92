import { runAuthKeys } from "../../auth/auth-keys.js";
import { defineCommand, type Command } from "../command.js";

/**
 * The same implementation as the hot-path bundle, reachable from the full CLI for debugging. The
 * bundle parses its own argv (it must not load this CLI); this declaration documents the same one.
 */
export const authKeysCommand: Command = defineCommand(
  {
    name: "auth-keys",
    summary: "print the authorized key lines for a user (sshd's AuthorizedKeysCommand)",
    args: [
      { name: "USER", description: "the login name sshd asks about (%u)" },
      { name: "TYPE", optional: true, description: "the offered key's type (%t)" },
      { name: "KEY", optional: true, description: "the offered key, base64 (%k)" },
    ],
    flags: {},
    description: `Prints one 'restrict,agent-forwarding,pty,command="..." TYPE KEY' line per registered key of USER (only the key
matching TYPE and KEY when given). Unknown users print nothing and exit 0; internal errors print
nothing on stdout and exit non-zero. Used as: AuthorizedKeysCommand <command> auth-keys %u %t %k`,
  },
  async ({ args }, io) => {
    const { code } = await runAuthKeys(args, io.layout, io);
    return code;
  },
);

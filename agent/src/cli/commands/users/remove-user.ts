import { defaultAdminDeps, type AdminDeps } from "../../../admin/deps.js";
import { removeUser } from "../../../admin/remove-user.js";
import { defineCommand, type Command, type CommandIo } from "../../command.js";

export function makeRemoveUserCommand(deps: (io: CommandIo) => AdminDeps = (io) => defaultAdminDeps(io.layout, io)): Command {
  return defineCommand(
    {
      name: "remove-user",
      summary: "remove a pod user, their keys, containers and host account",
      args: [{ name: "NAME", description: "the pod user to remove" }],
      flags: {
        force: { type: "boolean", description: "remove NAME even with live sessions, ending them" },
      },
      description: `Removes pod user NAME: their keys (no new logins), their containers and persistent home volumes
(through the daemon; a later user of the same name starts empty) and the host account. Refuses
while NAME has live sessions unless --force.`,
    },
    async ({ flags, args }, io) => {
      await removeUser(args[0] as string, { force: flags.force }, deps(io));
      return 0;
    },
  );
}

export const removeUserCommand: Command = makeRemoveUserCommand();

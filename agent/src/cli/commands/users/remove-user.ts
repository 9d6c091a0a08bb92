import { defaultPodUserDeps, removePodUser, type PodUserDeps } from "../../../admin/pod-users.js";
import { InputError, UserFacingError } from "../../../core/errors.js";
import type { Layout } from "../../../core/host/layout.js";
import { parseFlags } from "../../args.js";
import type { Command, CommandIo } from "../../command.js";

const USAGE = `Usage: podspawn remove-user NAME [--force]

Removes pod user NAME: their keys (no new logins), their containers and persistent home volumes
(through the daemon; a later user of the same name starts empty) and the host account. Refuses
while NAME has live sessions unless --force, which ends them.
`;

export function makeRemoveUserCommand(podUsers: (layout: Layout, io: CommandIo) => PodUserDeps = defaultPodUserDeps): Command {
  return {
    name: "remove-user",
    summary: "remove a pod user, their keys, containers and host account",
    usage: USAGE,
    async run(argv, io) {
      const { values, positionals } = parseFlags("remove-user", argv, { force: { type: "boolean", default: false } }, true);
      if (positionals.length !== 1) throw new InputError("remove-user", `expected one NAME, got ${positionals.length}`, USAGE.split("\n")[0]);
      const deps = podUsers(io.layout, io);
      const removed = await removePodUser(io.layout, positionals[0] as string, { force: values.force === true }, deps);
      if (!removed) throw new UserFacingError("no-such-user", `no pod user named ${JSON.stringify(positionals[0])}`);
      return 0;
    },
  };
}

export const removeUserCommand: Command = makeRemoveUserCommand();

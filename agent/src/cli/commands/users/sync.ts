import { defaultAdminDeps, readTextFile } from "../../../admin/deps.js";
import { syncUsers, type SyncDeps } from "../../../admin/sync-users.js";
import { defineCommand, type Command, type CommandIo } from "../../command.js";

export function makeSyncCommand(deps: (io: CommandIo) => SyncDeps = (io) => ({ ...defaultAdminDeps(io.layout, io), readText: readTextFile })): Command {
  return defineCommand(
    {
      name: "sync",
      summary: "converge pod users and keys to a users.yaml (GitOps)",
      flags: {
        file: { type: "string", required: true, value: "USERS.yaml", description: "the users file (version: 1, users: [{name, keys}])" },
        "dry-run": { type: "boolean", description: "print the plan only; change nothing" },
      },
      description: `Makes this node's pod users exactly those in USERS.yaml: creates missing users, sets every
listed user's keys to the listed ones, and removes pod users that are not listed (ending their
containers). The whole file is validated first; a bad file changes nothing.`,
    },
    async ({ flags }, io) => {
      await syncUsers({ file: flags.file, dryRun: flags["dry-run"] }, deps(io));
      return 0;
    },
  );
}

export const syncCommand: Command = makeSyncCommand();

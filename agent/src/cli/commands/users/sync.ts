import { defaultAdminDeps, readTextFile } from "../../../admin/deps.js";
import { syncUsers, type SyncDeps } from "../../../admin/sync-users.js";
import { InputError } from "../../../core/errors.js";
import { defineCommand, type Command, type CommandIo } from "../../command.js";

export function makeSyncCommand(deps: (io: CommandIo) => SyncDeps = (io) => ({ ...defaultAdminDeps(io.layout, io), readText: readTextFile })): Command {
  return defineCommand(
    {
      name: "sync",
      summary: "converge pod users and keys to a users.yaml (GitOps)",
      flags: {
        file: { type: "string", required: true, value: "USERS.yaml", description: "the users file (version: 1, users: [{name, keys}])" },
        "dry-run": { type: "boolean", description: "print the plan only; change nothing" },
        "allow-mass-removal": { type: "boolean", description: "remove users even when that is all of them, or more than --max-removal-share" },
        "max-removal-share": { type: "string", value: "FRACTION", default: "0.5", description: "the largest share of users one sync removes without --allow-mass-removal" },
      },
      description: `Makes this node's pod users exactly those in USERS.yaml: creates missing users, sets every
listed user's keys to the listed ones, and removes pod users that are not listed (ending their
containers). The whole file is validated first; a bad file changes nothing. A file that would remove
every user, or more than --max-removal-share of them (one user at a time always goes), is refused
without --allow-mass-removal: an emptied file is far more often a mistake than a decision.`,
    },
    async ({ flags }, io) => {
      const share = Number(flags["max-removal-share"]);
      if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(flags["max-removal-share"]) || !(share >= 0 && share <= 1)) {
        throw new InputError("--max-removal-share", `${JSON.stringify(flags["max-removal-share"])} is not a fraction`, "a number from 0 to 1, e.g. 0.5");
      }
      await syncUsers({ file: flags.file, dryRun: flags["dry-run"], allowMassRemoval: flags["allow-mass-removal"], maxRemovalShare: share }, deps(io));
      return 0;
    },
  );
}

export const syncCommand: Command = makeSyncCommand();

import { defaultAdminDeps, readTextFile, type ReadText } from "../../../admin/deps.js";
import { applyProjectSync, prepareProjectSync } from "../../../admin/projects/sync-projects.js";
import { defaultProjectDeps, type ProjectDeps } from "../../../admin/projects/project-deps.js";
import { syncUsers, type SyncDeps } from "../../../admin/sync-users.js";
import { InputError } from "../../../core/errors.js";
import { defineCommand, type Command, type CommandIo } from "../../command.js";

export interface SyncCommandDeps {
  readonly users: (io: CommandIo) => SyncDeps;
  readonly projects: (io: CommandIo) => ProjectDeps & { readonly readText: ReadText };
}

const DEFAULT_DEPS: SyncCommandDeps = {
  users: (io) => ({ ...defaultAdminDeps(io.layout, io), readText: readTextFile }),
  projects: (io) => ({ ...defaultProjectDeps(io.layout, io), readText: readTextFile }),
};

export function makeSyncCommand(deps: SyncCommandDeps = DEFAULT_DEPS): Command {
  return defineCommand(
    {
      name: "sync",
      summary: "converge pod users and keys to a users.yaml, projects to a projects.yaml (GitOps)",
      flags: {
        file: { type: "string", value: "USERS.yaml", description: "the users file (version: 1, users: [{name, keys}])" },
        projects: { type: "string", value: "PROJECTS.yaml", description: "the projects file (version: 1, projects: [{name, podfile}])" },
        podfiles: { type: "string", value: "DIR", description: "the directory the projects file's podfile paths are relative to (the repository root)", defaultText: "the projects file's directory" },
        "dry-run": { type: "boolean", description: "print the plan only; change nothing" },
        "allow-mass-removal": { type: "boolean", description: "remove users even when that is all of them, or more than --max-removal-share" },
        "max-removal-share": { type: "string", value: "FRACTION", default: "0.5", description: "the largest share of users one sync removes without --allow-mass-removal" },
      },
      description: `Makes this node's pod users exactly those in USERS.yaml: creates missing users, sets every
listed user's keys to the listed ones, and removes pod users that are not listed (ending their
containers). A file that would remove every user, or more than --max-removal-share of them (one
user at a time always goes), is refused without --allow-mass-removal: an emptied file is far more
often a mistake than a decision. With --projects, makes the node's projects exactly those in
PROJECTS.yaml: each podfile is read from DIR (never from outside it) and checked against this
node; a project without one gets the default environment. Both files are validated first; a bad
file changes nothing. At least one of --file and --projects.`,
    },
    async ({ flags }, io) => {
      if (flags.file === undefined && flags.projects === undefined) throw new InputError("sync", "needs --file USERS.yaml, --projects PROJECTS.yaml, or both", "see 'podspawn sync --help'");
      if (flags.podfiles !== undefined && flags.projects === undefined) throw new InputError("--podfiles", "only goes with --projects", "--projects PROJECTS.yaml --podfiles DIR");
      const share = Number(flags["max-removal-share"]);
      if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(flags["max-removal-share"]) || !(share >= 0 && share <= 1)) {
        throw new InputError("--max-removal-share", `${JSON.stringify(flags["max-removal-share"])} is not a fraction`, "a number from 0 to 1, e.g. 0.5");
      }
      const dryRun = flags["dry-run"];
      const pdeps = flags.projects === undefined ? null : deps.projects(io);
      // Projects are read and checked before the users change, so a bad projects file changes nothing.
      const projects = pdeps && flags.projects !== undefined ? await prepareProjectSync({ file: flags.projects, root: flags.podfiles ?? null, dryRun }, pdeps) : null;
      if (flags.file !== undefined) await syncUsers({ file: flags.file, dryRun, allowMassRemoval: flags["allow-mass-removal"], maxRemovalShare: share }, deps.users(io));
      if (pdeps && projects) await applyProjectSync(projects, dryRun, pdeps);
      return 0;
    },
  );
}

export const syncCommand: Command = makeSyncCommand();

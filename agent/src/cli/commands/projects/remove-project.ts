import { removeProject } from "../../../admin/projects/remove-project.js";
import { defineCommand, type Command } from "../../command.js";
import { projectDepsFor, type ProjectDepsFor } from "./add-project.js";

export function makeRemoveProjectCommand(deps: ProjectDepsFor = projectDepsFor): Command {
  return defineCommand(
    {
      name: "remove-project",
      summary: "unregister a project: new logins to it are refused",
      args: [{ name: "NAME", description: "a registered project" }],
      flags: {},
      description: `Removes project NAME's record and its clone. New logins that select it are refused from
now on; environments already running keep their sessions and go after their grace period.`,
    },
    async ({ args }, io) => {
      await removeProject(args[0] as string, deps(io));
      return 0;
    },
  );
}

export const removeProjectCommand: Command = makeRemoveProjectCommand();

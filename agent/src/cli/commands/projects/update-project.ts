import { updateProject } from "../../../admin/projects/update-project.js";
import { defineCommand, type Command } from "../../command.js";
import { projectDepsFor, type ProjectDepsFor } from "./add-project.js";

export function makeUpdateProjectCommand(deps: ProjectDepsFor = projectDepsFor): Command {
  return defineCommand(
    {
      name: "update-project",
      summary: "read a project's Podfile or repository again and keep the new version",
      args: [{ name: "NAME", description: "a registered project" }],
      flags: {},
      description: `Reads project NAME's source again: its Podfile file, or its repository's branch (cloned
again and pinned to the new commit). The whole Podfile is checked first; a bad one changes
nothing. Idle containers of the project are recreated at their next login; the new image
is built at the first login that needs it.`,
    },
    async ({ args }, io) => {
      await updateProject(args[0] as string, deps(io));
      return 0;
    },
  );
}

export const updateProjectCommand: Command = makeUpdateProjectCommand();

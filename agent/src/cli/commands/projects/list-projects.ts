import { listProjects } from "../../../admin/projects/list-projects.js";
import { defineCommand, type Command } from "../../command.js";
import { projectDepsFor, type ProjectDepsFor } from "./add-project.js";

export function makeListProjectsCommand(deps: ProjectDepsFor = projectDepsFor): Command {
  return defineCommand(
    {
      name: "list-projects",
      summary: "list the projects and the image each one's logins get",
      flags: {},
      description: `Lists the registered projects: where each environment comes from, the image its logins
run and whether that image is on the node yet (pending: built at the first login). Logins
without a project get the node's default environment, which is not listed.`,
    },
    async (_line, io) => {
      const rows = await listProjects(deps(io));
      if (rows.length === 0) {
        io.stdout.write("no projects (logins get the node's default environment)\n");
        return 0;
      }
      const width = Math.max(4, ...rows.map((r) => r.name.length));
      const stateWidth = Math.max(...rows.map((r) => r.state.length));
      io.stdout.write(`${"NAME".padEnd(width)}  ${"STATE".padEnd(stateWidth)}  IMAGE / SOURCE\n`);
      for (const r of rows) io.stdout.write(`${r.name.padEnd(width)}  ${r.state.padEnd(stateWidth)}  ${r.image}  (${r.source})\n`);
      return 0;
    },
  );
}

export const listProjectsCommand: Command = makeListProjectsCommand();

import { validateProject } from "../../core/container/project.js";
import { InputError } from "../../core/errors.js";
import type { ProjectDeps } from "./project-deps.js";

/**
 * `remove-project NAME`: the record goes (new logins to it are refused from now on), then its
 * clone. Environments already running keep their sessions and go after their grace period.
 */
export async function removeProject(rawName: string, deps: Pick<ProjectDeps, "projects" | "repos" | "say">): Promise<void> {
  const name = validateProject(rawName, "NAME");
  if (!(await deps.projects.remove(name))) throw new InputError("NAME", `no project ${name} on this node`, "a project podspawn list-projects shows");
  await deps.repos.remove(name);
  deps.say(`removed project ${name}: new logins to it are refused; running environments end after their grace period`);
}

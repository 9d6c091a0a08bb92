import { validateProject } from "../../core/container/project.js";
import { InputError } from "../../core/errors.js";
import { describeSource, formatProjectRecord, type ProjectRecord } from "../../core/projects/project-record.js";
import { commitProject, warnAbout } from "./add-project.js";
import { imageSummary, loadProject, sourceRequest } from "./load-project.js";
import type { ProjectDeps } from "./project-deps.js";

/**
 * `update-project NAME`: read the project's source again (its Podfile file, or its repository's
 * branch, pinned to the new commit) and replace the record if anything changed. Containers pick
 * the change up at their next idle login (the plan's spec hash changes).
 */
export async function updateProject(rawName: string, deps: ProjectDeps): Promise<ProjectRecord> {
  const name = validateProject(rawName, "NAME");
  const current = await deps.projects.read(name);
  if (!current) throw new InputError("NAME", `no project ${name} on this node`, "a project podspawn list-projects shows");
  const loaded = await loadProject(name, sourceRequest(current.source), deps);
  if (formatProjectRecord(loaded.record) === formatProjectRecord(current)) {
    await loaded.fetched?.drop();
    deps.say(`project ${name} is up to date: ${describeSource(current.source)}; ${imageSummary(loaded.plan)}`);
    return current;
  }
  await warnAbout(loaded, deps);
  await commitProject(loaded, deps);
  deps.say(`updated project ${name}: ${describeSource(loaded.record.source)}; ${imageSummary(loaded.plan)}; idle containers are recreated at their next login`);
  return loaded.record;
}

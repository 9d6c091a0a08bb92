import { validateProject } from "../../core/container/project.js";
import { InputError } from "../../core/errors.js";
import { describeSource, type ProjectRecord } from "../../core/projects/project-record.js";
import { imageSummary, loadProject, type LoadedProject, type SourceRequest } from "./load-project.js";
import type { ProjectDeps } from "./project-deps.js";

/**
 * `add-project NAME`: read the source (a Podfile on the node, a repository the node clones, or
 * nothing: the default environment under that name), check it against this node, and register
 * it. Nothing is written unless all of it is valid; the image is built at the first login.
 */
export interface AddProjectRequest {
  readonly name: string;
  readonly source: SourceRequest;
}

/** Write the record, then make the clone the project's; a clone is dropped if the write fails. */
export async function commitProject(loaded: LoadedProject, deps: ProjectDeps): Promise<void> {
  try {
    await deps.projects.write(loaded.record);
  } catch (err) {
    await loaded.fetched?.drop();
    throw err;
  }
  await loaded.fetched?.keep();
}

/** Warnings the admin should see once: what an import left out, a base image the node lacks. */
export async function warnAbout(loaded: LoadedProject, deps: ProjectDeps): Promise<void> {
  for (const note of loaded.record.notes) deps.warn(`warning: ${note}`);
  const base = loaded.plan.image.kind === "build" ? loaded.plan.image.base : loaded.plan.image.image;
  if ((await deps.imageExists(base)) === false) deps.warn(`warning: the image ${base} is not on this node: logins to project ${loaded.record.name} fail until it is (nothing is pulled)`);
}

export async function addProject(req: AddProjectRequest, deps: ProjectDeps): Promise<ProjectRecord> {
  const name = validateProject(req.name, "NAME");
  if (await deps.projects.read(name)) throw new InputError("NAME", `project ${name} already exists`, "a new name, or podspawn update-project NAME to read its source again");
  const loaded = await loadProject(name, req.source, deps);
  await warnAbout(loaded, deps);
  await commitProject(loaded, deps);
  const build = loaded.plan.image.kind === "build" ? `; built at its first login, or now with: podspawn prebuild --project ${name}` : "";
  deps.say(`added project ${name}: ${describeSource(loaded.record.source)}; ${imageSummary(loaded.plan)}${build}`);
  return loaded.record;
}

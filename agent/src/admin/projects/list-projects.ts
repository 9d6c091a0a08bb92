import { describeError } from "../../core/errors.js";
import { nodeResourceCaps, planEnvironment } from "../../core/podfile/index.js";
import { describeSource, projectRepository } from "../../core/projects/project-record.js";
import { resolveRecord } from "../../core/projects/resolve-record.js";
import type { ProjectDeps } from "./project-deps.js";

/** One project as list-projects shows it. */
export interface ProjectListing {
  readonly name: string;
  readonly source: string;
  /** The image its logins run, or why it cannot be planned on this node. */
  readonly image: string;
  /**
   * built: the image is there; pending: it is built at the first login; missing: an image used as
   * it is is not on the node; unknown: the engine could not be asked; unfit: cannot be planned here.
   */
  readonly state: "built" | "pending" | "missing" | "unknown" | "unfit";
}

/** Every registered project, with the image a login would get now. */
export async function listProjects(deps: Pick<ProjectDeps, "layout" | "projects" | "nodeConfig" | "imageExists">): Promise<ProjectListing[]> {
  const config = await deps.nodeConfig();
  const out: ProjectListing[] = [];
  for (const name of await deps.projects.list()) {
    const record = await deps.projects.read(name);
    if (!record) continue;
    try {
      const podfile = await resolveRecord(record, config, nodeResourceCaps(config));
      const plan = planEnvironment(podfile, { instance: deps.layout.instance, user: "podspawn-check", project: name, nodeConfig: config, caps: nodeResourceCaps(config), repository: projectRepository(record.source) });
      const image = plan.container.image;
      const exists = await deps.imageExists(image);
      out.push({ name, source: describeSource(record.source), image, state: exists === null ? "unknown" : exists ? "built" : plan.image.kind === "build" ? "pending" : "missing" });
    } catch (err) {
      out.push({ name, source: describeSource(record.source), image: `does not fit this node: ${describeError(err)}`, state: "unfit" });
    }
  }
  return out;
}

import * as z from "zod";
import { validateProject } from "../container/project.js";
import { hint, parseYamlWith, refuse, via, type DeepReadonly } from "./schema-kit.js";

/**
 * The projects declared in git (`projects.yaml`), beside users.yaml: each project a name and,
 * optionally, the repository path of its Podfile.
 *
 *   version: 1
 *   projects:
 *     - name: default
 *     - name: web
 *       podfile: podfiles/web.yaml
 */

/** Inside the repository: relative, no `..` segment, nothing a shell or a path join could misread. */
function isRepositoryPath(path: string): boolean {
  return path !== "" && !path.startsWith("/") && !path.includes("\0") && !path.includes("\\") && !path.split("/").includes("..");
}

const PROJECT = z.strictObject({
  name: hint(z.string(), { allowed: "a project name" }).transform(via((n: string) => validateProject(n, "name"))),
  podfile: hint(z.string().refine(isRepositoryPath), { what: "a repository-relative path", allowed: "a path inside the repository, e.g. podfiles/web.yaml: no leading '/', no '..'" }).optional(),
});

export const PROJECTS_CONFIG_SCHEMA = z.strictObject({
  version: z.literal(1),
  projects: hint(z.array(PROJECT), { allowed: "a list of projects: name and optional podfile" })
    .superRefine((projects, ctx) => {
      const seen = new Set<string>();
      projects.forEach((p, i) => {
        if (seen.has(p.name)) refuse(ctx, `${JSON.stringify(p.name)} appears twice`, { allowed: "unique project names", path: [i, "name"] });
        seen.add(p.name);
      });
    })
    .default([]),
});

export type ProjectsConfig = DeepReadonly<z.output<typeof PROJECTS_CONFIG_SCHEMA>>;
export type ProjectEntry = ProjectsConfig["projects"][number];

export function parseProjectsConfig(text: string, file: string): ProjectsConfig {
  return parseYamlWith(PROJECTS_CONFIG_SCHEMA, text, file);
}

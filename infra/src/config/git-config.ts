import { readFileSync } from "node:fs";
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { InputError } from "../../../agent/src/core/errors.js";
import { validateProject } from "../../../agent/src/core/container/project.js";
import { parseUsersConfig, type UsersConfig } from "../../../agent/src/core/config/users-config.js";

/**
 * Users and projects declared in git. They are validated at synth time with the agent's own
 * validators, so a bad key fails `cdktf synth` (naming file and line) instead of a node's sync.
 */
export interface ProjectEntry {
  readonly name: string;
  /** Path of the Podfile, relative to the repository. */
  readonly podfile?: string;
}
export interface ProjectsConfig {
  readonly version: 1;
  readonly projects: readonly ProjectEntry[];
}

export interface GitConfig {
  readonly users: UsersConfig;
  readonly projects: ProjectsConfig;
}

export function loadUsersFile(path: string): UsersConfig {
  return parseUsersConfig(readFileSync(path, "utf8"), path);
}

function at(file: string, lines: LineCounter, node: YamlNode | null | undefined, field: string): string {
  const offset = node?.range?.[0];
  if (offset === undefined) return `${file}: ${field}`;
  return `${file}:${lines.linePos(offset).line}: ${field}`;
}

/** Parses projects.yaml; every error is an InputError whose field reads `file:line: path`. */
export function parseProjectsConfig(text: string, file: string): ProjectsConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError) {
    const line = lines.linePos(firstError.pos[0]).line;
    throw new InputError(`${file}:${line}`, `invalid YAML: ${firstError.message.split("\n")[0]}`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new InputError(at(file, lines, root, "(document)"), "expected a mapping with version and projects");
  for (const pair of root.items) {
    const key = String((pair.key as { value?: unknown } | null)?.value);
    if (key !== "version" && key !== "projects") throw new InputError(at(file, lines, pair.key as YamlNode, key), "is not a known field", "version, projects");
  }
  const version: unknown = root.get("version");
  if (version !== 1) throw new InputError(at(file, lines, root.get("version", true) as YamlNode, "version"), `expected 1, got ${JSON.stringify(version)}`, "1");
  const list = root.get("projects", true);
  if (list === undefined) return { version: 1, projects: [] };
  if (!isSeq(list)) throw new InputError(at(file, lines, list as YamlNode, "projects"), "expected a list");
  const seen = new Set<string>();
  const projects = list.items.map((item, i): ProjectEntry => {
    const path = `projects[${i}]`;
    if (!isMap(item)) throw new InputError(at(file, lines, item as YamlNode, path), "expected a mapping with name and optional podfile");
    for (const pair of item.items) {
      const key = String((pair.key as { value?: unknown } | null)?.value);
      if (key !== "name" && key !== "podfile") throw new InputError(at(file, lines, pair.key as YamlNode, `${path}.${key}`), "is not a known field", "name, podfile");
    }
    const nameNode = item.get("name", true) as YamlNode | undefined;
    const field = at(file, lines, nameNode ?? item, `${path}.name`);
    const name = validateProject(item.get("name"), field);
    if (seen.has(name)) throw new InputError(field, `${JSON.stringify(name)} appears twice`, "unique project names");
    seen.add(name);
    const podfile = item.get("podfile");
    if (podfile === undefined) return { name };
    if (typeof podfile !== "string" || podfile.startsWith("/") || podfile.split("/").includes("..")) {
      throw new InputError(at(file, lines, item.get("podfile", true) as YamlNode, `${path}.podfile`), `${JSON.stringify(podfile)} is not a repository-relative path`);
    }
    return { name, podfile };
  });
  return { version: 1, projects };
}

export function loadProjectsFile(path: string): ProjectsConfig {
  return parseProjectsConfig(readFileSync(path, "utf8"), path);
}

export function loadGitConfig(usersFile: string, projectsFile: string): GitConfig {
  return { users: loadUsersFile(usersFile), projects: loadProjectsFile(projectsFile) };
}

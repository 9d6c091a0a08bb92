import { readFileSync } from "node:fs";
import { parseProjectsConfig, type ProjectsConfig } from "../../../agent/src/core/config/projects-config.js";
import { parseUsersConfig, type UsersConfig } from "../../../agent/src/core/config/users-config.js";

/**
 * Users and projects declared in git. They are validated at synth time with the agent's own
 * parsers, so a bad key fails `cdktf synth` (naming file and line) instead of a node's sync.
 * Projects ship as a bundle with their Podfiles (bootstrap/projects-bundle.ts), checked there.
 */
export type { ProjectEntry, ProjectsConfig } from "../../../agent/src/core/config/projects-config.js";

export interface GitConfig {
  readonly users: UsersConfig;
}

export function loadUsersFile(path: string): UsersConfig {
  return parseUsersConfig(readFileSync(path, "utf8"), path);
}

export function loadProjectsFile(path: string): ProjectsConfig {
  return parseProjectsConfig(readFileSync(path, "utf8"), path);
}

export function loadGitConfig(usersFile: string): GitConfig {
  return { users: loadUsersFile(usersFile) };
}

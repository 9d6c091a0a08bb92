import type { NodeConfig } from "../../core/config/node-config.js";
import type { Layout } from "../../core/host/layout.js";
import { DockerImageBuilder } from "../../adapters/docker/docker-image-builder.js";
import { loadNodeConfig } from "../../adapters/fs/node-config-file.js";
import { fsProjectRegistry, type ProjectRegistry } from "../../adapters/fs/project-registry.js";
import { projectRepos, type ProjectRepos } from "../../adapters/git/project-repos.js";

/**
 * What the project use cases touch, injected: the registry, the repository clones, the node's
 * config (its caps and default image decide what a Podfile may be), the engine's image list
 * (for warnings only), and two output lines.
 */
export interface ProjectDeps {
  readonly layout: Layout;
  readonly projects: ProjectRegistry;
  readonly repos: ProjectRepos;
  readonly nodeConfig: () => Promise<NodeConfig>;
  /** Whether the node's engine has an image; null when it cannot be asked (nothing is checked then). */
  readonly imageExists: (image: string) => Promise<boolean | null>;
  /** Progress for the admin (stdout). */
  readonly say: (line: string) => void;
  /** Problems that do not stop the change (stderr). */
  readonly warn: (line: string) => void;
}

/** The node's real parts: registry and clones under the instance's dirs, its config, its engine. */
export function defaultProjectDeps(layout: Layout, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv }): ProjectDeps {
  const engine = new DockerImageBuilder(io.env["PODSPAWN_DOCKER_SOCKET"] || "/var/run/docker.sock");
  return {
    layout,
    projects: fsProjectRegistry(layout.projectsDir),
    repos: projectRepos(layout.projectReposDir),
    nodeConfig: () => loadNodeConfig(layout.configFile),
    // Only for warnings: an engine that does not answer must not stop an admin from registering.
    imageExists: (image) => engine.exists(image).catch(() => null),
    say: (line) => io.stdout.write(`${line}\n`),
    warn: (line) => io.stderr.write(`${line}\n`),
  };
}

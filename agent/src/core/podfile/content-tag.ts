import { createHash } from "node:crypto";

/**
 * The image tag of a Podfile environment: `podspawn/<project>:podfile-<12 hex>`, the hex being
 * the start of the sha256 of the compiled Dockerfile. The Dockerfile is the canonical form of
 * everything that goes into the image (base, packages sorted, versioned tools, env sorted,
 * extra_commands in order), so key order and YAML formatting do not move the tag, two nodes
 * compute the same one, and a change to the compiler itself rebuilds too. Fields that do not
 * change the image (hooks, services, dotfiles, repos, resources, mode) leave it alone; they
 * change the plan's spec hash, which recreates the container.
 */
export const PODFILE_TAG_PREFIX = "podfile-";

export function dockerfileDigest(dockerfile: string): string {
  return createHash("sha256").update(dockerfile, "utf8").digest("hex");
}

/** `project` must be a validated project name (it is a repository path component). */
export function contentTag(project: string, dockerfile: string): string {
  return `podspawn/${project}:${PODFILE_TAG_PREFIX}${dockerfileDigest(dockerfile).slice(0, 12)}`;
}

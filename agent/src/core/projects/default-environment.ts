import type { NodeConfig } from "../config/node-config.js";
import { EMPTY_PODFILE } from "../podfile/merge.js";
import type { ResolvedPodfile } from "../podfile/resolved-podfile.js";

/**
 * The node's default environment (no project, or a project added without a Podfile) as a resolved
 * Podfile: its configured image as it is, nothing added, nothing to build. Made directly rather
 * than parsed: config.yaml's image reference was validated by the node config's own rules.
 */
export function defaultEnvironment(config: NodeConfig): ResolvedPodfile {
  return { ...EMPTY_PODFILE, base: config.image };
}

import { App } from "cdktf";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { writeAgentArtifact } from "./bootstrap/agent-bundle.js";
import { PROJECTS_FILE, writeProjectsBundle } from "./bootstrap/projects-bundle.js";
import { writeNodeImageContext } from "./bootstrap/local-node-image.js";
import { loadGitConfig } from "./config/git-config.js";
import type { DeployTarget } from "./config/types.js";
import { AwsFleetStack } from "./stacks/aws-fleet.js";
import { LocalFleetStack } from "./stacks/local-fleet.js";

export interface BuildAppOptions {
  readonly targets: readonly DeployTarget[];
  /** Repository root: config files and the agent bundle are found from here. */
  readonly root: string;
  /** @default - cdktf's default (`cdktf.out`, or CDKTF_OUTDIR under the CLI) */
  readonly outdir?: string;
  /** @default "<root>/dist/bundle" */
  readonly bundleDir?: string;
  /** users.yaml and, optionally, projects.yaml. @default "<root>/infra/config" */
  readonly configDir?: string;
  /**
   * The directory projects.yaml's podfile paths are relative to, and the only one its Podfiles
   * (and what they extend) are read from. @default - the repository root (`root`)
   */
  readonly podfilesRoot?: string;
  /** Ship the image kit (build-image.mjs + podfiles/default) in the agent artifact. @default true */
  readonly imageKit?: boolean;
}

/** Builds (does not synth) the app: one stack per deploy target, named `<kind>-<environment>`. */
export async function buildApp(options: BuildAppOptions): Promise<App> {
  const app = new App(options.outdir ? { outdir: options.outdir } : {});
  const configDir = options.configDir ?? join(options.root, "infra", "config");
  const git = loadGitConfig(join(configDir, "users.yaml"));
  const assets = join(options.root, "dist", "infra-assets");
  // No projects.yaml: no bundle, no projects pointer, the users-only node script of before.
  const projectsFile = join(configDir, PROJECTS_FILE);
  const projects = existsSync(projectsFile) ? await writeProjectsBundle({ projectsFile, podfilesRoot: options.podfilesRoot ?? options.root }, assets) : undefined;
  const agent = await writeAgentArtifact(options.bundleDir ?? join(options.root, "dist", "bundle"), assets, options.imageKit === false ? {} : { defaultContext: join(options.root, "podfiles", "default") });
  for (const env of options.targets) {
    if (env.kind === "aws") {
      new AwsFleetStack(app, `aws-${env.environment}`, { env, git, agent, ...(projects ? { projects } : {}) });
    } else {
      const imageContext = writeNodeImageContext(join(assets, `local-${env.environment}-image`), agent.path, env.baseImage ?? "debian:bookworm", agent.sha256);
      new LocalFleetStack(app, `local-${env.environment}`, { env, git, agent, imageContext, ...(projects ? { projects } : {}) });
    }
  }
  return app;
}

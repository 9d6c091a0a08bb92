import { DEFAULT_PROJECT } from "../../core/container/project.js";
import type { NodeConfig } from "../../core/config/node-config.js";
import { describeError, InputError, UserFacingError } from "../../core/errors.js";
import { nodeResourceCaps, planEnvironment, type EnvironmentPlan, type ResolvedPodfile, type ResourceCaps } from "../../core/podfile/index.js";
import { resolveRecord } from "../../core/projects/resolve-record.js";
import { projectRepository, type ProjectRecord } from "../../core/projects/project-record.js";
import type { ImageBuilds, ImageRequest } from "./image-builds.js";

/**
 * The contract between logins and environments: `planFor(user, project)` gives the plan of the
 * (user, project) environment and resolves once the plan's image exists, building it if needed
 * (one build per tag, progress through `onProgress`). What it refuses, it refuses before anything
 * is created:
 *   - a project the node does not have: an InputError naming it (the user's input);
 *   - a project whose record or Podfile no longer fits the node: a UserFacingError (the admin's);
 *   - a build that fails or times out: a UserFacingError with the failing step's last lines.
 * No project (`default`, unless the admin registered one of that name) is the node's default
 * environment: its configured image as it is, nothing to build.
 */

export interface PlanOptions {
  /** Lines for the user's stderr while the image is built (`building environment web: step 3/7 : ...`). */
  readonly onProgress?: (line: string) => void;
}

export interface EnvironmentPlanner {
  planFor(user: string, project: string, opts?: PlanOptions): Promise<EnvironmentPlan>;
}

export interface PlannerOptions {
  readonly instance: string;
  readonly config: () => NodeConfig;
  /** The registry's record of a project, or null when the node has none of that name. */
  readonly project: (name: string) => Promise<ProjectRecord | null>;
  readonly builds: ImageBuilds;
  /** @default the node's own figures (nodeResourceCaps) */
  readonly caps?: (config: NodeConfig) => ResourceCaps;
  /** Throws the refusal while runc has an open escape through images (daemon/runc-gate.ts). @default no check */
  readonly runcGate?: (what: "project") => void;
}

export const UNKNOWN_PROJECT_ALLOWED = "a project this node's admin has added, or no PODSPAWN_PROJECT for the default environment";

/** The build a plan asks for, as the image builds take it. */
export function imageRequest(plan: EnvironmentPlan, project: string): ImageRequest | null {
  if (plan.image.kind !== "build") return null;
  return { environment: plan.name, tag: plan.image.tag, base: plan.image.base, context: [{ path: "Dockerfile", data: Buffer.from(plan.image.dockerfile) }], labels: { "podspawn.podfile-project": project } };
}

export class Planner implements EnvironmentPlanner {
  constructor(private readonly opts: PlannerOptions) {}

  async planFor(user: string, project: string, options: PlanOptions = {}): Promise<EnvironmentPlan> {
    const config = this.opts.config();
    const caps = (this.opts.caps ?? nodeResourceCaps)(config);
    const record = await this.record(project);
    const podfile = await this.resolve(record, project, config, caps);
    let plan: EnvironmentPlan;
    try {
      plan = planEnvironment(podfile, { instance: this.opts.instance, user, project, nodeConfig: config, caps, repository: record && projectRepository(record.source) });
    } catch (err) {
      throw this.unfit(project, err);
    }
    const request = imageRequest(plan, project);
    if (request) await this.opts.builds.ensure(request, options.onProgress ?? (() => undefined));
    return plan;
  }

  private async resolve(record: ProjectRecord | null, project: string, config: NodeConfig, caps: ResourceCaps): Promise<ResolvedPodfile> {
    // A Podfile's image is its author's: no such environment, and no build, on a runc that an
    // author could escape. The default environment (and a project without a Podfile, which runs
    // it) is the admin's own image.
    if (record !== null && record.source.kind !== "default") this.opts.runcGate?.("project");
    try {
      return await resolveRecord(record, config, caps);
    } catch (err) {
      throw this.unfit(project, err);
    }
  }

  private async record(project: string): Promise<ProjectRecord | null> {
    let record: ProjectRecord | null;
    try {
      record = await this.opts.project(project);
    } catch (err) {
      throw new UserFacingError("project-broken", `project ${project} is not set up correctly on this node; tell the node's admin`, describeError(err));
    }
    if (record === null && project !== DEFAULT_PROJECT) throw new InputError("PODSPAWN_PROJECT", `no project ${JSON.stringify(project)} on this node`, UNKNOWN_PROJECT_ALLOWED);
    return record;
  }

  /** The record was valid when added; the node may have changed since (caps, its image). */
  private unfit(project: string, err: unknown): Error {
    if (!(err instanceof InputError)) return err instanceof Error ? err : new Error(String(err));
    return new UserFacingError("project-unfit", `project ${project}'s environment does not fit this node: ${err.message}`, "update the project's Podfile or the node's config (podspawn update-project)");
  }
}

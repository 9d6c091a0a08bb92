import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { NodeConfig } from "../config/node-config.js";
import { formatBytes } from "../config/units.js";
import { containerName, containerSpec, LABEL } from "../container/container-spec.js";
import { InputError } from "../errors.js";
import { canonicalJson } from "./canonical-json.js";
import { contentTag } from "./content-tag.js";
import { compileDockerfile, needsBuild } from "./dockerfile.js";
import type { EnvironmentPlan, ImagePlan, ProjectClone, ServicePlan, ServicesNetworkSpec, SetupPlan } from "./environment-plan.js";
import { repoDirName } from "./git-source.js";
import type { ResourceCaps } from "./parse.js";
import type { ResolvedPodfile } from "./resolved-podfile.js";
import type { ServiceSpec } from "./schema.js";

/** Who the environment is for. All validated ids: instance, pod username, project name. */
export interface PlanTarget {
  readonly instance: string;
  readonly user: string;
  readonly project: string;
}

/** Where a project's Podfile was read: its repository, at the commit the node read (a `--repo` project). */
export interface ProjectRepository {
  readonly url: string;
  /** The branch the admin asked for (`--branch`); null: the repository's default branch. */
  readonly branch: string | null;
  readonly commit: string;
}

export interface PlanContext extends PlanTarget {
  readonly nodeConfig: NodeConfig;
  /** The most one environment may have; a Podfile above it is refused (parse-time checks name the line). */
  readonly caps: ResourceCaps;
  /** The project's repository, for `mount: copy`; null or absent: the project has none (a Podfile file). */
  readonly repository?: ProjectRepository | null;
}

/** Names the companion service a container or volume belongs to. */
export const SERVICE_LABEL = "podspawn.service";
/** Marks the network an environment's services share with its main container. */
export const SERVICES_NETWORK_LABEL = "podspawn.services-network";

/** Each service's share, never more than the main container's own figure. */
export const SERVICE_LIMITS = { cpus: 1, memoryBytes: 1024 ** 3, pids: 256 } as const;

/** The node's figures as caps: a Podfile may ask for less than the node's default, never more. */
export function nodeResourceCaps(config: NodeConfig): ResourceCaps {
  return { cpus: config.resources.cpus, memoryBytes: config.resources.memoryBytes };
}

/** Only these two: a Podfile's env is otherwise literal (no shell, no other variables). */
export function expandPodspawnVars(value: string, target: PlanTarget): string {
  return value.replaceAll("${PODSPAWN_USER}", target.user).replaceAll("${PODSPAWN_PROJECT}", target.project);
}

function envList(env: Readonly<Record<string, string>>, target: PlanTarget): string[] {
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${expandPodspawnVars(env[k] ?? "", target)}`);
}

function resourcesWithin(podfile: ResolvedPodfile, config: NodeConfig, caps: ResourceCaps): { cpus: number; memoryBytes: number } {
  const { cpus, memoryBytes } = podfile.resources;
  if (cpus !== null && cpus > caps.cpus) throw new InputError("resources.cpus", `${cpus} is above this node's cap of ${caps.cpus} CPUs`, `at most ${caps.cpus}`);
  if (memoryBytes !== null && memoryBytes > caps.memoryBytes) throw new InputError("resources.memory", `${formatBytes(memoryBytes)} is above this node's cap of ${formatBytes(caps.memoryBytes)}`, `at most ${formatBytes(caps.memoryBytes)}`);
  return { cpus: cpus ?? Math.min(config.resources.cpus, caps.cpus), memoryBytes: memoryBytes ?? Math.min(config.resources.memoryBytes, caps.memoryBytes) };
}

function imagePlan(podfile: ResolvedPodfile, project: string): ImagePlan {
  if (!needsBuild(podfile)) return { kind: "existing", image: podfile.base };
  const dockerfile = compileDockerfile(podfile);
  return { kind: "build", tag: contentTag(project, dockerfile), base: podfile.base, dockerfile };
}

function ownerLabels(t: PlanTarget): Record<string, string> {
  return { [LABEL.managed]: "true", [LABEL.instance]: t.instance, [LABEL.user]: t.user, [LABEL.project]: t.project };
}

interface Limits {
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly pidsLimit: number;
}

function servicePlan(s: ServiceSpec, t: PlanTarget, main: Limits, persistent: boolean, ociRuntime: "runc" | "runsc"): ServicePlan {
  const labels = { ...ownerLabels(t), [SERVICE_LABEL]: s.name };
  return {
    name: s.name,
    containerName: `${containerName(t.instance, t.user, t.project)}.${s.name}`,
    image: s.image,
    env: envList(s.env, t),
    ports: [...s.ports],
    volumes: s.volumes.map((v) => ({ name: `${containerName(t.instance, t.user, t.project)}.${v.name}`, target: v.target, readOnly: v.readOnly, persistent, labels })),
    ready: s.ready,
    ociRuntime,
    cpus: Math.min(SERVICE_LIMITS.cpus, main.cpus),
    memoryBytes: Math.min(SERVICE_LIMITS.memoryBytes, main.memoryBytes),
    // gVisor counts its sandbox's own threads as pids: it needs the main container's raised figure.
    pidsLimit: ociRuntime === "runsc" ? main.pidsLimit : Math.min(SERVICE_LIMITS.pids, main.pidsLimit),
    capAdd: [],
    labels,
  };
}

/** `<instance>.<user>.<project>.services`: per (user, project), so names never clash across projects. */
export function servicesNetworkName(instance: string, user: string, project: string): string {
  return `${containerName(instance, user, project)}.services`;
}

function servicesNetwork(t: PlanTarget): ServicesNetworkSpec {
  return { name: servicesNetworkName(t.instance, t.user, t.project), labels: { ...ownerLabels(t), [SERVICES_NETWORK_LABEL]: "true" }, internal: true };
}

/** A URL naming a place on the node itself: the container, which clones it, has no such path. */
function isNodeLocal(url: string): boolean {
  return url.startsWith("/") || url.startsWith("file:");
}

export const MOUNT_COPY_ALLOWED = "none; or add the project from its repository: podspawn add-project NAME --repo URL, with a URL the containers can reach (https://, ssh://, git://, user@host:path)";

/**
 * `mount: copy`: the repository the node read the Podfile from, cloned at that commit into the
 * workspace (the Podfile's, else the project's name, as the reference's `/workspace/<project>`).
 * The branch is the admin's `--branch`, else the Podfile's `branch` (load-project read the
 * Podfile there), else the default branch.
 */
function projectClone(podfile: ResolvedPodfile, ctx: PlanContext): ProjectClone | null {
  if (podfile.mount !== "copy") return null;
  const repo = ctx.repository ?? null;
  if (repo === null) throw new InputError("mount", "copy clones the project's repository into the workspace, and this project has none (its Podfile is not read from a repository)", MOUNT_COPY_ALLOWED);
  if (isNodeLocal(repo.url)) throw new InputError("mount", `copy clones ${repo.url} inside the container, and that is a path on this node, not in the container`, MOUNT_COPY_ALLOWED);
  return { url: repo.url, branch: repo.branch ?? podfile.branch, commit: repo.commit, path: podfile.workspace ?? ctx.project };
}

function setupPlan(podfile: ResolvedPodfile, project: ProjectClone | null): SetupPlan {
  const workspace = project?.path ?? podfile.workspace;
  const under = (path: string): string => (workspace === null ? path : posix.join(workspace, path));
  return {
    project,
    dotfiles: podfile.dotfiles && { repo: podfile.dotfiles.repo, dir: "dotfiles", install: podfile.dotfiles.install },
    repos: podfile.repos.map((r) => ({ url: r.url, branch: r.branch, path: under(r.path ?? repoDirName(r.url)) })),
    onCreate: [...podfile.onCreate],
    onStart: [...podfile.onStart],
  };
}

function hashOf(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, 16);
}

/**
 * The environment a resolved Podfile gives `target` on this node. Pure: the same inputs give the
 * same plan and the same spec hash on every node.
 */
export function planEnvironment(podfile: ResolvedPodfile, ctx: PlanContext): EnvironmentPlan {
  const image = imagePlan(podfile, ctx.project);
  const mode = podfile.mode ?? ctx.nodeConfig.session.mode;
  const resources = resourcesWithin(podfile, ctx.nodeConfig, ctx.caps);
  const config: NodeConfig = {
    ...ctx.nodeConfig,
    image: image.kind === "build" ? image.tag : image.image,
    session: { ...ctx.nodeConfig.session, mode },
    resources: { ...ctx.nodeConfig.resources, ...resources },
  };
  const spec = containerSpec(ctx.instance, ctx.user, ctx.project, config);
  const podspawnEnv = [`PODSPAWN_PROJECT=${ctx.project}`, `PODSPAWN_USER=${ctx.user}`];
  const clone = projectClone(podfile, ctx);
  // Sessions start in the clone, as the reference's start in its workspace.
  const session = { mode, shell: podfile.shell, workdir: clone?.path ?? podfile.workspace, env: [...envList(podfile.env, ctx), ...podspawnEnv].sort() };
  const services = podfile.services.map((s) => servicePlan(s, ctx, spec, mode === "persistent", config.ociRuntime));
  const network = services.length > 0 ? servicesNetwork(ctx) : null;
  const unhashed = {
    image,
    session,
    servicesNetwork: network,
    setup: setupPlan(podfile, clone),
    ports: { expose: [...podfile.ports.expose], strategy: podfile.ports.strategy },
  };
  // The display name is left out: renaming an environment is no reason to recreate it.
  const specHash = hashOf({ ...unhashed, container: { ...spec, labels: {} }, services });
  const stamp = (labels: Readonly<Record<string, string>>) => ({ ...labels, [LABEL.specHash]: specHash });
  return {
    name: podfile.name ?? ctx.project,
    ...unhashed,
    container: { ...spec, labels: stamp(spec.labels) },
    services: services.map((s) => ({ ...s, labels: stamp(s.labels) })),
    specHash,
  };
}

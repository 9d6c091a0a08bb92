import { posix } from "node:path";
import type { NodeConfig } from "../../core/config/node-config.js";
import { InputError } from "../../core/errors.js";
import { DEVCONTAINER_FILES, importDevcontainer, nodeResourceCaps, planEnvironment, resolvePodfile, type EnvironmentPlan, type LoadedPodfile, type PodfileLoader, type ResolvedPodfile } from "../../core/podfile/index.js";
import { recordingLoader, takeSnapshot } from "../../core/projects/podfile-snapshot.js";
import { projectRepository, type PodfileSnapshot, type ProjectRecord, type ProjectSource } from "../../core/projects/project-record.js";
import { hostLoader, podfileTree, readHostPodfile, type PodfileTree } from "../../adapters/fs/podfile-files.js";
import type { FetchedRepo } from "../../adapters/git/project-repos.js";
import { defaultEnvironment } from "../../core/projects/default-environment.js";
import type { ProjectDeps } from "./project-deps.js";

/**
 * A project's source read into a registry record, and checked the way a login will use it: the
 * whole `extends` chain resolved against this node (its caps, its default image for the bundled
 * bases) and planned. Nothing is written here; a repository's clone is handed back to keep or drop.
 */

export type SourceRequest =
  | { readonly kind: "default" }
  /** `within`: read only inside that directory (a projects.yaml checkout); null: anywhere on the node. */
  | { readonly kind: "podfile"; readonly file: string; readonly within?: string | null }
  | { readonly kind: "repo"; readonly url: string; readonly branch: string | null; readonly path: string | null };

export interface LoadedProject {
  readonly record: ProjectRecord;
  readonly plan: EnvironmentPlan;
  /** The clone of a repo project, to keep once the record is written (or drop). */
  readonly fetched: FetchedRepo | null;
}

/** Where a repository's Podfile is looked for, in this order, when `--path` is not given (the reference system's names). */
export const REPO_PODFILES = ["/.podspawn/podfile.yaml", "/podfile.yaml"] as const;

/** The user the check plans for: the plan's image does not depend on who logs in. */
const CHECK_USER = "podspawn-check";

/** A source read and resolved, not yet planned. */
interface Read {
  readonly source: ProjectSource;
  readonly snapshot: PodfileSnapshot | null;
  readonly resolved: ResolvedPodfile;
  readonly notes: readonly string[];
  readonly fetched: FetchedRepo | null;
}

async function resolveEntry(entry: LoadedPodfile, load: PodfileLoader, config: NodeConfig): Promise<{ snapshot: PodfileSnapshot; resolved: ResolvedPodfile }> {
  const rec = recordingLoader(load);
  const { podfile } = await resolvePodfile(entry.text, entry.file, { load: rec.load, bundledBaseImage: config.image, caps: nodeResourceCaps(config) });
  return { snapshot: takeSnapshot(entry, rec.loaded), resolved: podfile };
}

/** The repository's Podfile: `--path`, else the usual names, else a devcontainer.json imported (its notes kept). */
async function repoEntry(tree: PodfileTree, path: string | null): Promise<{ entry: LoadedPodfile; notes: readonly string[] }> {
  const candidates = path !== null ? [`/${path}`] : [...REPO_PODFILES, ...DEVCONTAINER_FILES.map((f) => `/${f}`)];
  for (const name of candidates) {
    const found = await tree.read(name);
    if (found === null) continue;
    if (!name.endsWith(".json")) return { entry: found, notes: [] };
    const imported = await importDevcontainer(found.text, found.file, tree.load);
    return { entry: { file: `${found.file} (as a Podfile)`, text: imported.text }, notes: imported.notes };
  }
  const looked = candidates.map((c) => c.slice(1)).join(", ");
  throw new InputError(path !== null ? "--path" : "--repo", path !== null ? `${path} does not exist in the repository` : `the repository has no Podfile (looked for ${looked})`, "a Podfile in the repository, or --path PODFILE");
}

type RepoRequest = Extract<SourceRequest, { kind: "repo" }>;

/**
 * As the reference system: without `--branch`, a Podfile (on the default branch) that names a
 * `branch` is read again from that branch, which is then what the project serves. The Podfile
 * there must name the same branch, or which one is meant is unclear.
 */
async function readRepo(name: string, req: RepoRequest, config: NodeConfig, deps: ProjectDeps): Promise<Read> {
  const first = await readRepoAt(name, req, req.branch, config, deps);
  const named = first.resolved.branch;
  if (req.branch !== null || named === null) return first;
  await first.fetched?.drop();
  const there = await readRepoAt(name, req, named, config, deps);
  if (there.resolved.branch === named) return there;
  await there.fetched?.drop();
  const says = there.resolved.branch === null ? "names no branch" : `names branch ${there.resolved.branch}`;
  throw new InputError("branch", `the Podfile on the default branch names branch ${named}, and the Podfile on ${named} ${says}`, `the same branch in both, or add-project --branch BRANCH`);
}

async function readRepoAt(name: string, req: RepoRequest, branch: string | null, config: NodeConfig, deps: ProjectDeps): Promise<Read> {
  const fetched = await deps.repos.fetch(name, req.url, branch);
  try {
    const tree = await podfileTree(fetched.dir, "rooted");
    const { entry, notes } = await repoEntry(tree, req.path);
    const source: ProjectSource = { kind: "repo", url: req.url, branch: req.branch, path: req.path, commit: fetched.commit };
    return { ...(await resolveEntry(entry, tree.load, config)), source, notes, fetched };
  } catch (err) {
    await fetched.drop();
    throw err;
  }
}

async function readSource(name: string, req: SourceRequest, config: NodeConfig, deps: ProjectDeps): Promise<Read> {
  switch (req.kind) {
    case "default":
      return { source: { kind: "default" }, snapshot: null, resolved: defaultEnvironment(config), notes: [], fetched: null };
    case "podfile": {
      const tree = req.within ? await podfileTree(req.within, "real") : null;
      const entry = tree ? await tree.read(posix.resolve(req.within ?? "/", req.file)) : await readHostPodfile(req.file);
      if (entry === null) throw new InputError(req.file, "does not exist", "a Podfile (YAML)");
      return { ...(await resolveEntry(entry, tree?.load ?? hostLoader, config)), source: { kind: "podfile", file: entry.file }, notes: [], fetched: null };
    }
    case "repo":
      return readRepo(name, req, config, deps);
  }
}

export async function loadProject(name: string, req: SourceRequest, deps: ProjectDeps): Promise<LoadedProject> {
  const config = await deps.nodeConfig();
  const read = await readSource(name, req, config, deps);
  try {
    const plan = planEnvironment(read.resolved, { instance: deps.layout.instance, user: CHECK_USER, project: name, nodeConfig: config, caps: nodeResourceCaps(config), repository: projectRepository(read.source) });
    return { record: { version: 1, name, source: read.source, podfile: read.snapshot, notes: read.notes }, plan, fetched: read.fetched };
  } catch (err) {
    await read.fetched?.drop();
    throw err;
  }
}

/** The source a record was made from, as add-project would be asked for it again. */
export function sourceRequest(source: ProjectSource): SourceRequest {
  switch (source.kind) {
    case "default":
      return { kind: "default" };
    case "podfile":
      return { kind: "podfile", file: source.file };
    case "repo":
      return { kind: "repo", url: source.url, branch: source.branch, path: source.path };
  }
}

/** One line about the plan's image, for the admin. */
export function imageSummary(plan: EnvironmentPlan): string {
  return plan.image.kind === "build" ? `image ${plan.image.tag} (built from ${plan.image.base})` : `image ${plan.image.image} as it is`;
}

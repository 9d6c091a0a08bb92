import { access } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../../core/config/node-config.js";
import { validateProject } from "../../../core/container/project.js";
import { InputError } from "../../../core/errors.js";
import { importDevcontainer, nodeResourceCaps, planEnvironment, resolvePodfile, type EnvironmentPlan, type ResourceCaps } from "../../../core/podfile/index.js";
import { loadNodeConfig } from "../../../adapters/fs/node-config-file.js";
import { findLocalPodfile, hostLoader, LOCAL_PODFILES, readHostPodfile } from "../../../adapters/fs/podfile-files.js";
import type { Layout } from "../../../core/host/layout.js";

/**
 * A Podfile named on the command line (or the current directory's), resolved and planned the way
 * this machine would: on a node with its config's caps and default image, elsewhere with the
 * schema's own bounds only. Shared by `podfile validate` and `prebuild`.
 */

export interface LocalNode {
  readonly config: NodeConfig;
  /** null off a node: only the schema's bounds apply. */
  readonly caps: ResourceCaps | null;
}

export async function localNode(layout: Layout): Promise<LocalNode> {
  const onNode = await access(layout.configFile).then(() => true, () => false);
  if (!onNode) return { config: DEFAULT_NODE_CONFIG, caps: null };
  const config = await loadNodeConfig(layout.configFile);
  return { config, caps: nodeResourceCaps(config) };
}

export async function podfilePath(given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const found = await findLocalPodfile(".");
  if (found === null) throw new InputError("FILE", `no Podfile here (looked for ${LOCAL_PODFILES.join(", ")})`, "a Podfile path, or run in a directory that has one (podspawn init writes one)");
  return found;
}

/** The project name a file's image is tagged with: --project, else its directory's name. */
export function projectFor(file: string, given: string | undefined): string {
  if (given !== undefined) return validateProject(given, "--project");
  const dir = basename(dirname(file)) === ".podspawn" ? basename(dirname(dirname(file))) : basename(dirname(file));
  try {
    return validateProject(dir.toLowerCase(), "--project");
  } catch {
    throw new InputError("--project", `the directory name ${JSON.stringify(dir)} is not a project name`, "--project NAME");
  }
}

export interface CheckedPodfile {
  readonly file: string;
  readonly plan: EnvironmentPlan;
  /** What an imported devcontainer.json could not carry over. */
  readonly notes: readonly string[];
}

/** The git work tree `file` is in: the nearest directory up from it that holds `.git`, or null. */
async function workTreeOf(file: string): Promise<string | null> {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (await access(join(dir, ".git")).then(() => true, () => false)) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Resolves (relative extends from the file's own directory) and plans; every problem is an
 * InputError naming file and line. `mount: copy` needs the project's repository: a file inside
 * a git work tree is checked as that repository's Podfile (a note says so; the plan has no
 * clone, since which URL and commit the node will read is not known here), any other file is
 * refused as `add-project --podfile` would refuse it.
 */
export async function checkPodfile(path: string, project: string, node: LocalNode): Promise<CheckedPodfile> {
  const loaded = await readHostPodfile(path);
  const caps = node.caps ?? { cpus: Infinity, memoryBytes: Infinity };
  const imported = loaded.file.endsWith(".json") ? await importDevcontainer(loaded.text, loaded.file, hostLoader) : null;
  const text = imported?.text ?? loaded.text;
  const { podfile } = await resolvePodfile(text, loaded.file, { load: hostLoader, bundledBaseImage: node.config.image, ...(node.caps ? { caps: node.caps } : {}) });
  const notes = [...(imported?.notes ?? [])];
  const tree = podfile.mount === "copy" ? await workTreeOf(resolve(loaded.file)) : null;
  if (tree !== null) notes.push(`${loaded.file}: mount: copy clones the repository (${tree} here) into ~/${podfile.workspace ?? project} when the project is added with add-project --repo; a project added with --podfile is refused`);
  const plan = planEnvironment(tree === null ? podfile : { ...podfile, mount: "none" }, { instance: "podspawn", user: "podspawn-check", project, nodeConfig: node.config, caps });
  return { file: loaded.file, plan, notes };
}

import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { parseNodeConfig, type NodeConfig } from "../../../agent/src/core/config/node-config.js";
import { parseProjectsConfig } from "../../../agent/src/core/config/projects-config.js";
import { InputError } from "../../../agent/src/core/errors.js";
import { layoutFor } from "../../../agent/src/core/host/layout.js";
import { readTarFiles } from "../../../agent/src/support/tar.js";
import { loadProject } from "../../../agent/src/admin/projects/load-project.js";
import type { ProjectDeps } from "../../../agent/src/admin/projects/project-deps.js";
import { prepareProjectSync } from "../../../agent/src/admin/projects/sync-projects.js";
import { byPath, packReleaseTar, sha256Hex, type ReleaseFile } from "./release-tar.js";

/**
 * The projects bundle: `projects.yaml` from git plus every Podfile it names and every file their
 * `extends` chains reach, and nothing else, as a deterministic tar (release-tar.ts). A node
 * unpacks it into a directory and runs `podspawn sync --projects DIR/projects.yaml --podfiles DIR`,
 * so the podfile paths in projects.yaml are relative to the podfiles root (the repository root by
 * default) and the bundle keeps them as they are.
 *
 * The files are found by the agent's own project loader (the one `sync --projects` runs on the
 * node, with the node config the bootstrap writes), and the packed bytes are then checked the way
 * a node reads them: unpacked and prepared with the agent's sync. A missing or invalid Podfile,
 * or an `extends` outside the root, fails synth with the agent's path-qualified message.
 */

/** Where projects.yaml sits in the bundle (the node passes DIR/projects.yaml). */
export const PROJECTS_FILE = "projects.yaml";
/** The node refuses a bundle larger than this (a bound on what it fetches and unpacks). */
export const PROJECTS_BUNDLE_MAX_BYTES = 8 * 1024 * 1024;
/** Nor one of more files than this. */
export const PROJECTS_BUNDLE_MAX_FILES = 1000;

export interface ProjectsBundle {
  /** Absolute path of the tar. */
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  /** The bundle's files, by path inside it. */
  readonly files: readonly string[];
}

export interface ProjectsBundleSource {
  /** The projects file in git (infra/config/projects.yaml). */
  readonly projectsFile: string;
  /** The directory podfile paths are relative to; nothing outside it is read. */
  readonly podfilesRoot: string;
  /**
   * The node config Podfiles are checked against (its default image for the bundled bases, its
   * resource caps). @default - the config the bootstrap writes: `image: podspawn/default:bookworm`
   */
  readonly nodeConfig?: NodeConfig;
}

const DEFAULT_CHECK_CONFIG = parseNodeConfig({ image: "podspawn/default:bookworm" });

/** What the agent's loader needs at synth: no registry, no clones, no engine, no output. */
function synthDeps(config: NodeConfig): ProjectDeps & { readText: (file: string) => Promise<string> } {
  const never = (what: string) => (): never => {
    throw new Error(`a projects bundle check never ${what}`);
  };
  return {
    layout: layoutFor("podspawn"),
    projects: { list: async () => [], read: async () => null, write: never("writes a project record"), remove: never("removes a project record") },
    repos: { fetch: never("clones a repository"), remove: never("removes a clone") },
    nodeConfig: async () => config,
    imageExists: async () => null,
    say: () => undefined,
    warn: () => undefined,
    readText: async (file) => readFileSync(file, "utf8"),
  };
}

/** Bundle path -> bytes: projects.yaml, then each Podfile the agent read, relative to the root. */
export async function collectProjectsFiles(source: ProjectsBundleSource): Promise<Map<string, Buffer>> {
  const text = readFileSync(source.projectsFile);
  const config = parseProjectsConfig(text.toString("utf8"), source.projectsFile);
  const root = realpathSync(source.podfilesRoot);
  const deps = synthDeps(source.nodeConfig ?? DEFAULT_CHECK_CONFIG);
  const files = new Map<string, Buffer>([[PROJECTS_FILE, text]]);
  for (const p of config.projects) {
    if (p.podfile === undefined) continue;
    const loaded = await loadProject(p.name, { kind: "podfile", file: posix.join(root, p.podfile), within: root }, deps);
    for (const [file, body] of Object.entries(loaded.record.podfile?.files ?? {})) {
      const inside = posix.relative(root, file);
      if (inside === PROJECTS_FILE) throw new InputError(`${source.projectsFile}: projects[${config.projects.indexOf(p)}].podfile`, `${PROJECTS_FILE} at the podfiles root is the bundle's own projects file`, "a Podfile under another name");
      files.set(inside, Buffer.from(body, "utf8"));
    }
  }
  return files;
}

/** The bundle's bytes: the files by path, each 0644 (pure). */
export function packProjectsBundle(files: ReadonlyMap<string, Buffer>): Promise<Buffer> {
  const entries = new Map<string, ReleaseFile>([...files].map(([path, data]) => [path, { data, executable: false }]));
  return packReleaseTar(byPath(entries));
}

/** Refuses a bundle the node would refuse for its size or file count. */
function checkBounds(tar: Buffer, files: number): void {
  if (tar.length > PROJECTS_BUNDLE_MAX_BYTES) throw new InputError("projects bundle", `is ${tar.length} bytes`, `at most ${PROJECTS_BUNDLE_MAX_BYTES} bytes (nodes refuse more)`);
  if (files > PROJECTS_BUNDLE_MAX_FILES) throw new InputError("projects bundle", `holds ${files} files`, `at most ${PROJECTS_BUNDLE_MAX_FILES} (nodes refuse more)`);
}

/** The packed bytes as a node reads them: unpacked into a fresh directory and prepared by the agent's sync. */
export async function checkProjectsBundle(tar: Buffer, nodeConfig: NodeConfig = DEFAULT_CHECK_CONFIG): Promise<void> {
  const files = await readTarFiles(tar, PROJECTS_BUNDLE_MAX_BYTES);
  checkBounds(tar, files.size);
  const dir = mkdtempSync(join(tmpdir(), "podspawn-projects-check-"));
  try {
    for (const [path, data] of files) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), data);
    }
    await prepareProjectSync({ file: join(dir, PROJECTS_FILE), root: dir, dryRun: true }, synthDeps(nodeConfig));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Collects, packs and checks the bundle; writes `<outDir>/projects-<sha256>.tar`. */
export async function writeProjectsBundle(source: ProjectsBundleSource, outDir: string): Promise<ProjectsBundle> {
  const files = await collectProjectsFiles(source);
  const tar = await packProjectsBundle(files);
  checkBounds(tar, files.size);
  await checkProjectsBundle(tar, source.nodeConfig);
  const sha256 = sha256Hex(tar);
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, `projects-${sha256}.tar`);
  writeFileSync(path, tar);
  return { path, sha256, bytes: tar.length, files: [...files.keys()].sort() };
}

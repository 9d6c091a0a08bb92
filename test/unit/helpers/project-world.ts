import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fsProjectRegistry, type ProjectRegistry } from "../../../agent/src/adapters/fs/project-registry.js";
import type { FetchedRepo, ProjectRepos } from "../../../agent/src/adapters/git/project-repos.js";
import type { ProjectDeps } from "../../../agent/src/admin/projects/project-deps.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../../agent/src/core/config/node-config.js";
import { InputError } from "../../../agent/src/core/errors.js";
import { layoutFor, type Layout } from "../../../agent/src/core/host/layout.js";

/**
 * A node for the project use cases: the real registry in a temp dir (owned by whoever runs the
 * test), Podfiles as real files, repositories as scripted clones (the git adapter has its own
 * integration test), the engine's images as a set.
 */
export interface ProjectWorld {
  readonly root: string;
  readonly layout: Layout;
  readonly deps: ProjectDeps & { readonly readText: (path: string) => Promise<string> };
  readonly registry: ProjectRegistry;
  readonly out: string[];
  readonly err: string[];
  /** Images the engine has; null: the engine cannot be asked. */
  images: Set<string> | null;
  config: NodeConfig;
  /** url -> the files of its default branch (branch name -> files for others). */
  readonly remotes: Map<string, Map<string, Record<string, string>>>;
  /** What the scripted clones did, in order: `fetch <project> <url> <branch>`, `keep <project>`, `drop <project>`, `remove <project>`. */
  readonly repoLog: string[];
  /** Write `text` at `rel` under the world's root; returns the absolute path. */
  file(rel: string, text: string): string;
  dispose(): void;
}

export const WORLD_IMAGE = "podspawn/default:bookworm";

export function projectWorld(): ProjectWorld {
  const root = mkdtempSync(join(tmpdir(), "pst-projects-"));
  const base = layoutFor("podspawn");
  const layout: Layout = { ...base, etcDir: join(root, "etc"), configFile: join(root, "etc/config.yaml"), projectsDir: join(root, "etc/projects"), stateDir: join(root, "state"), buildLogsDir: join(root, "state/builds"), projectReposDir: join(root, "state/projects") };
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const registry = fsProjectRegistry(layout.projectsDir, owner);
  const out: string[] = [];
  const err: string[] = [];
  const remotes = new Map<string, Map<string, Record<string, string>>>();
  const repoLog: string[] = [];
  let clones = 0;
  const repos: ProjectRepos = {
    async fetch(project, url, branch) {
      repoLog.push(`fetch ${project} ${url} ${branch ?? "-"}`);
      const files = remotes.get(url)?.get(branch ?? "main");
      if (!files) throw new InputError("--repo", `git could not clone ${url}${branch ? ` (branch ${branch})` : ""}: repository not found`);
      const dir = join(layout.projectReposDir, `.${project}.${++clones}.tmp`);
      for (const [rel, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, rel)), { recursive: true });
        writeFileSync(join(dir, rel), text);
      }
      const commit = (clones.toString(16) + "a".repeat(40)).slice(0, 40);
      const fetched: FetchedRepo = {
        dir,
        commit,
        keep: async () => {
          repoLog.push(`keep ${project}`);
          return dir;
        },
        drop: async () => {
          repoLog.push(`drop ${project}`);
          rmSync(dir, { recursive: true, force: true });
        },
      };
      return fetched;
    },
    remove: async (project) => void repoLog.push(`remove ${project}`),
  };
  const world: ProjectWorld = {
    root,
    layout,
    registry,
    out,
    err,
    images: new Set([WORLD_IMAGE]),
    config: { ...DEFAULT_NODE_CONFIG, image: WORLD_IMAGE },
    remotes,
    repoLog,
    deps: undefined as unknown as ProjectWorld["deps"],
    file(rel, text) {
      const path = join(root, rel);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      return path;
    },
    dispose: () => rmSync(root, { recursive: true, force: true }),
  };
  (world as { deps: ProjectWorld["deps"] }).deps = {
    layout,
    projects: registry,
    repos,
    nodeConfig: async () => world.config,
    imageExists: async (image) => (world.images === null ? null : world.images.has(image)),
    say: (line) => out.push(line),
    warn: (line) => err.push(line),
    readText: async (path) => (await import("node:fs/promises")).readFile(path, "utf8"),
  };
  return world;
}

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLE_FILES, IMAGE_KIT_SCRIPT, sha256Hex, writeAgentArtifact } from "../bootstrap/agent-bundle.js";
import type { UsersConfig } from "../../../agent/src/core/config/users-config.js";

/**
 * A release published as files, laid out like the artifact bucket (agent/<sha>.tar.gz and its
 * pointer, users/<sha>.json and its pointer, projects/<sha>.tar and its pointer), for nodes whose sources are file:// URLs: the local
 * fleet (`npm run up -- --nodes N`) and the bootstrap e2e. Writing a pointer is the release.
 */
export const AGENT_POINTER = "agent/current.sha256";
export const USERS_POINTER = "users/current.sha256";
export const PROJECTS_POINTER = "projects/current.sha256";

export interface FileRelease {
  readonly dir: string;
  readonly agentPointerUrl: string;
  readonly agentBaseUrl: string;
  readonly usersPointerUrl: string;
  readonly usersBaseUrl: string;
  readonly projectsPointerUrl: string;
  readonly projectsBaseUrl: string;
}

export function fileRelease(dir: string): FileRelease {
  mkdirSync(join(dir, "agent"), { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, "users"), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, "projects"), { recursive: true, mode: 0o700 });
  return {
    dir,
    agentPointerUrl: `file://${join(dir, AGENT_POINTER)}`,
    agentBaseUrl: `file://${join(dir, "agent")}/`,
    usersPointerUrl: `file://${join(dir, USERS_POINTER)}`,
    usersBaseUrl: `file://${join(dir, "users")}/`,
    projectsPointerUrl: `file://${join(dir, PROJECTS_POINTER)}`,
    projectsBaseUrl: `file://${join(dir, "projects")}/`,
  };
}

/** Writes a file and then renames it over `path`: a node never reads half a pointer. */
function writeAtomic(path: string, text: string | Buffer, mode: number): void {
  writeFileSync(`${path}.tmp`, text, { mode });
  renameSync(`${path}.tmp`, path);
}

export interface PublishAgentOptions {
  /** The default image's context: ships the image kit. @default - no kit */
  readonly defaultContext?: string;
  /**
   * A line appended to podspawn.cjs, making a different build of the same code (the upgrade
   * test's "new release"). @default - the bundle as built
   */
  readonly marker?: string;
  /** Write the pointer too (the release itself). @default true */
  readonly point?: boolean;
}

/** Packs `bundleDir` into `<dir>/agent/<sha>.tar.gz`; with `point`, the pointer names it. Returns the sha256. */
export async function publishAgent(release: FileRelease, bundleDir: string, o: PublishAgentOptions = {}): Promise<string> {
  let from = bundleDir;
  let scratch: string | undefined;
  if (o.marker !== undefined) {
    scratch = mkdtempSync(join(tmpdir(), "podspawn-release-"));
    for (const f of [...BUNDLE_FILES, ...(o.defaultContext ? [IMAGE_KIT_SCRIPT] : [])]) copyFileSync(join(bundleDir, f), join(scratch, f));
    writeFileSync(join(scratch, "podspawn.cjs"), Buffer.concat([readFileSync(join(bundleDir, "podspawn.cjs")), Buffer.from(`\n// ${o.marker}\n`)]));
    from = scratch;
  }
  try {
    const out = join(release.dir, "agent");
    const art = await writeAgentArtifact(from, out, o.defaultContext ? { defaultContext: o.defaultContext } : {});
    renameSync(art.path, join(out, `${art.sha256}.tar.gz`));
    if (o.point !== false) writeAtomic(join(release.dir, AGENT_POINTER), `${art.sha256}\n`, 0o644);
    return art.sha256;
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Writes `<dir>/users/<sha>.json` and points at it. Returns the sha256. */
export function publishUsers(release: FileRelease, users: UsersConfig, flags: readonly string[] = []): string {
  const text = JSON.stringify(users, null, 2) + "\n";
  const sha = sha256Hex(text);
  writeAtomic(join(release.dir, "users", `${sha}.json`), text, 0o600);
  writeAtomic(join(release.dir, USERS_POINTER), `${[sha, ...flags].join(" ")}\n`, 0o600);
  return sha;
}

/**
 * Writes `<dir>/projects/<sha>.tar` (a bundle from packProjectsBundle) and points at it. Returns
 * the sha256. `sha256` files and points at the bytes under that hash instead of their own: a
 * corrupt object, which nodes must refuse (tests).
 */
export function publishProjects(release: FileRelease, bundle: Buffer, o: { readonly sha256?: string } = {}): string {
  const sha = o.sha256 ?? sha256Hex(bundle);
  writeAtomic(join(release.dir, "projects", `${sha}.tar`), bundle, 0o600);
  writeAtomic(join(release.dir, PROJECTS_POINTER), `${sha}\n`, 0o600);
  return sha;
}

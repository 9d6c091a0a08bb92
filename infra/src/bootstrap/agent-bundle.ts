import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { packTar } from "../../../agent/src/support/tar.js";

/** The three bundles `podspawn install` expects in its --bundle-dir; shipped as one artifact. */
export const BUNDLE_FILES = ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"] as const;
/**
 * The image kit: scripts/build-image bundled (the code `npm run up` runs), so a node builds its
 * default environment image itself, from `podfiles/default/` shipped beside it.
 */
export const IMAGE_KIT_SCRIPT = "build-image.mjs";
export const IMAGE_KIT_CONTEXT = "podfiles/default";

export interface AgentArtifact {
  /** Absolute path of the tar.gz. */
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

export interface KitFile {
  readonly data: Buffer;
  readonly executable: boolean;
}

/**
 * Packs the bundles (and the image kit, when given) into a deterministic tar.gz (fixed order,
 * mode, owner, mtime 0; Node's gzip writes no timestamp), so the same build always has the same
 * sha256, which is what the agent pointer names.
 */
export async function packAgentBundle(bundle: ReadonlyMap<string, Buffer>, kit: ReadonlyMap<string, KitFile> = new Map()): Promise<Buffer> {
  const entries = BUNDLE_FILES.map((name) => {
    const data = bundle.get(name);
    if (!data) throw new Error(`agent bundle is missing ${name}`);
    return { path: name, type: "file" as const, mode: 0o644, uid: 0, gid: 0, data };
  });
  const extra = [...kit.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, f]) => ({ path, type: "file" as const, mode: f.executable ? 0o755 : 0o644, uid: 0, gid: 0, data: f.data }));
  return gzipSync(await packTar([...entries, ...extra]), { level: 9 });
}

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function readTree(dir: string, under: string, into: Map<string, KitFile>): void {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) readTree(path, under, into);
    else if (st.isFile()) into.set(`${IMAGE_KIT_CONTEXT}/${relative(under, path)}`, { data: readFileSync(path), executable: (st.mode & 0o111) !== 0 });
  }
}

export interface WriteArtifactOptions {
  /** The default image's build context (`podfiles/default`); with `build-image.mjs` in the bundle dir it makes the image kit. @default - no kit */
  readonly defaultContext?: string;
}

/** Reads `bundleDir`, writes `<outDir>/podspawn-agent-<sha256>.tar.gz`. */
export async function writeAgentArtifact(bundleDir: string, outDir: string, options: WriteArtifactOptions = {}): Promise<AgentArtifact> {
  const files = new Map<string, Buffer>();
  for (const name of BUNDLE_FILES) {
    try {
      files.set(name, readFileSync(join(bundleDir, name)));
    } catch {
      throw new Error(`agent bundle ${join(bundleDir, name)} not found: run 'npm run build' first (it bundles the agent)`);
    }
  }
  const kit = new Map<string, KitFile>();
  if (options.defaultContext !== undefined) {
    try {
      kit.set(IMAGE_KIT_SCRIPT, { data: readFileSync(join(bundleDir, IMAGE_KIT_SCRIPT)), executable: false });
    } catch {
      throw new Error(`image kit ${join(bundleDir, IMAGE_KIT_SCRIPT)} not found: run 'npm run build' first`);
    }
    readTree(options.defaultContext, options.defaultContext, kit);
  }
  const tgz = await packAgentBundle(files, kit);
  const sha256 = sha256Hex(tgz);
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, `podspawn-agent-${sha256}.tar.gz`);
  writeFileSync(path, tgz);
  return { path, sha256, bytes: tgz.length };
}

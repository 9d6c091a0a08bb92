import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { byPath, packReleaseTar, sha256Hex, type ReleaseFile } from "./release-tar.js";

export { sha256Hex } from "./release-tar.js";

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

export type KitFile = ReleaseFile;

/**
 * Packs the bundles (and the image kit, when given) into a deterministic tar.gz (the bundles
 * first, then the kit by path; see release-tar.ts; Node's gzip writes no timestamp), so the same build always has the same
 * sha256, which is what the agent pointer names.
 */
export async function packAgentBundle(bundle: ReadonlyMap<string, Buffer>, kit: ReadonlyMap<string, KitFile> = new Map()): Promise<Buffer> {
  const entries = BUNDLE_FILES.map((name): [string, ReleaseFile] => {
    const data = bundle.get(name);
    if (!data) throw new Error(`agent bundle is missing ${name}`);
    return [name, { data, executable: false }];
  });
  return gzipSync(await packReleaseTar([...entries, ...byPath(kit)]), { level: 9 });
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

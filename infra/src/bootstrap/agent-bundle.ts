import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { packTar } from "../../../agent/src/support/tar.js";

/** The three bundles `podspawn install` expects in its --bundle-dir; shipped as one artifact. */
export const BUNDLE_FILES = ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"] as const;

export interface AgentArtifact {
  /** Absolute path of the tar.gz. */
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * Packs dist/bundle into a deterministic tar.gz (fixed order, mode, owner, mtime 0; Node's gzip
 * writes no timestamp), so the same bundle always has the same sha256 and the S3 key, user-data
 * and instances only change when the agent does.
 */
export async function packAgentBundle(bundle: ReadonlyMap<string, Buffer>): Promise<Buffer> {
  const entries = BUNDLE_FILES.map((name) => {
    const data = bundle.get(name);
    if (!data) throw new Error(`agent bundle is missing ${name}`);
    return { path: name, type: "file" as const, mode: 0o644, uid: 0, gid: 0, data };
  });
  return gzipSync(await packTar(entries), { level: 9 });
}

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Reads `bundleDir`, writes `<outDir>/podspawn-agent-<sha256>.tar.gz`. */
export async function writeAgentArtifact(bundleDir: string, outDir: string): Promise<AgentArtifact> {
  const files = new Map<string, Buffer>();
  for (const name of BUNDLE_FILES) {
    try {
      files.set(name, readFileSync(join(bundleDir, name)));
    } catch {
      throw new Error(`agent bundle ${join(bundleDir, name)} not found: run 'npm run build' first (it bundles the agent)`);
    }
  }
  const tgz = await packAgentBundle(files);
  const sha256 = sha256Hex(tgz);
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, `podspawn-agent-${sha256}.tar.gz`);
  writeFileSync(path, tgz);
  return { path, sha256, bytes: tgz.length };
}

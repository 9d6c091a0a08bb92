import { createHash } from "node:crypto";
import { packTar, type TarEntry } from "../../../agent/src/support/tar.js";

/**
 * The one way a release artifact (the agent, the projects bundle) becomes tar bytes: regular
 * files only, root-owned, 0644 or 0755, mtime 0, in the order given. The same files always give
 * the same bytes, so the sha256 a pointer names is a function of the content alone.
 */
export interface ReleaseFile {
  readonly data: Buffer;
  readonly executable: boolean;
}

/** Entries in path order: the order a Map was filled in must not decide the hash. */
export function byPath(files: ReadonlyMap<string, ReleaseFile>): [string, ReleaseFile][] {
  return [...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function packReleaseTar(files: readonly (readonly [string, ReleaseFile])[]): Promise<Buffer> {
  const entries: TarEntry[] = files.map(([path, f]) => ({ path, type: "file", mode: f.executable ? 0o755 : 0o644, uid: 0, gid: 0, data: f.data }));
  return packTar(entries);
}

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

import { realpath, stat } from "node:fs/promises";
import { posix } from "node:path";
import { InputError } from "../../core/errors.js";
import { localPodfilePath, PODFILE_MAX_BYTES, type LoadedPodfile, type PodfileLoader } from "../../core/podfile/index.js";
import { readCappedTextFile } from "./capped-file.js";

/**
 * Podfiles read from disk for the admin commands (validate, add-project, sync, prebuild): capped
 * at the Podfile size limit, and, for a tree (a repository, a projects checkout), never read
 * from outside it, symlinks included. The daemon never reads these: it plans from snapshots.
 */

async function readText(real: string, shown: string): Promise<string> {
  const text = await readCappedTextFile(real, PODFILE_MAX_BYTES).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(shown, `cannot be read (${err.code ?? err.message})`);
  });
  if (text === null) throw new InputError(shown, "does not exist", "a Podfile (YAML)");
  return text;
}

/** A Podfile anywhere on the node, by absolute path (relative paths are taken from the working directory). */
export async function readHostPodfile(path: string): Promise<LoadedPodfile> {
  const file = posix.resolve(path);
  return { file, text: await readText(file, file) };
}

/** `extends` read from the node's files: what an admin's own Podfile extends, wherever it is. */
export const hostLoader: PodfileLoader = async (ref, fromDir) => readHostPodfile(localPodfilePath(ref, fromDir));

export interface PodfileTree {
  /** The files' names: `rooted` ones treat the tree as `/` (a clone's temporary path does not leak into records). */
  readonly names: "real" | "rooted";
  /** A Podfile of the tree by its name (`/podfile.yaml` when rooted), or null when there is no such file. */
  read(name: string): Promise<LoadedPodfile | null>;
  readonly load: PodfileLoader;
}

/** Podfiles inside `root` only: a path or a symlink that leads out of it is refused. */
export async function podfileTree(root: string, names: "real" | "rooted"): Promise<PodfileTree> {
  const top = await realpath(root);
  const real = (name: string): string => (names === "rooted" ? posix.join(top, name) : name);
  const inside = async (name: string): Promise<string | null> => {
    const wanted = real(name);
    const resolved = await realpath(wanted).catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? null : Promise.reject(err)));
    if (resolved === null) return null;
    if (resolved !== top && !resolved.startsWith(`${top}/`)) throw new InputError(name, "leads outside the repository", "a file inside the repository (no symlinks out of it)");
    return resolved;
  };
  const read = async (name: string): Promise<LoadedPodfile | null> => {
    const path = await inside(name);
    return path === null ? null : { file: name, text: await readText(path, name) };
  };
  const load: PodfileLoader = async (ref, fromDir) => {
    const name = localPodfilePath(ref, fromDir);
    const got = await read(name);
    if (got === null) throw new InputError(name, "does not exist", "a Podfile inside the repository");
    return got;
  };
  return { names, read, load };
}

/** Where a project directory keeps its Podfile, in the order looked for (the reference system's names). */
export const LOCAL_PODFILES = ["podfile.yaml", ".podspawn/podfile.yaml"] as const;

/** The Podfile of directory `dir`, or null when it has none of the usual names. */
export async function findLocalPodfile(dir: string): Promise<string | null> {
  for (const name of LOCAL_PODFILES) {
    const path = posix.join(posix.resolve(dir), name);
    if (await stat(path).then((s) => s.isFile(), () => false)) return path;
  }
  return null;
}

import { constants } from "node:fs";
import { lstat, mkdir, open, unlink, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import type { TarEntry } from "../../support/tar.js";
import { pidIsContainers, type InitProcessOf } from "./container-pid.js";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NOCTTY } = constants;
/** A directory one component below an open one, never through a symlink. */
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
/** A name that is free (we just removed whatever held it): never an existing inode, never a link. */
const NEW_FILE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY;
/** The account shape is about ten entries; a longer list is not the claim's hot path. */
const MAX_DIRECT_ENTRIES = 64;
/** What Docker 20.10's extraction gives a missing parent: mkdir 0777 under its umask 022, root's. */
const MISSING_PARENT_MODE = 0o755;

/** How a direct write went: written, or why the archive should do it (and whether we had begun). */
export type DirectWrite = { readonly written: true } | { readonly written: false; readonly reason: string; readonly partial: boolean };

/** A shape or state we leave to the engine's archive extraction. */
class LeaveToArchive extends Error {}

/** Why an entry path is unfit (our own code makes them, so this is a bug), or null. */
export function entryPathProblem(path: string): string | null {
  if (path === "" || path.startsWith("/")) return "must be relative to / and not empty";
  if (path.includes("\0")) return "must not hold a NUL byte";
  const parts = path.split("/");
  if (parts.some((p) => p === "")) return "must have no empty parts (no leading, trailing or doubled /)";
  if (parts.some((p) => p === "." || p === "..")) return "must have no . or .. parts";
  return null;
}

/**
 * Writes entries into a running runc container through /proc/<init pid>/root, the way Docker
 * 20.10's archive extraction would (measured: an existing file is replaced by a new inode with the
 * entry's owner and mode, an existing directory gets the entry's owner and mode, missing parents
 * are made 0755 root:root, entries get mtime 0), in ~1 ms instead of the engine's 40-80 ms
 * re-exec of docker-untar. Anything it cannot do safely or identically is left to the archive.
 *
 * The container's tree may be hostile (Podfile images come from project repositories), and the
 * daemon is root on the host: a path resolved in one go under /proc/<pid>/root would follow an
 * absolute symlink relative to the HOST's root. So the root is opened once, the pid is checked
 * to still be the container's after that, and every step is one name below a directory fd we
 * hold and have checked (/proc/self/fd/<fd>/<name>, NOFOLLOW).
 */
export class ProcRootWriter {
  constructor(
    private readonly initProcessOf: InitProcessOf,
    private readonly procRoot = "/proc",
  ) {}

  /**
   * An engine that fails the inspect (a hung one) fails the write with that error: the archive
   * would only wait as long again.
   */
  async write(containerId: string, entries: readonly TarEntry[]): Promise<DirectWrite> {
    if (entries.length > MAX_DIRECT_ENTRIES) return leave(`more than ${MAX_DIRECT_ENTRIES} entries`);
    const init = await this.initProcessOf(containerId);
    if (init === null) return leave("the container is not running");
    if (init.ociRuntime !== "runc") return leave(`the ${init.ociRuntime} runtime keeps its filesystem out of the host's reach`);
    let tree: ContainerTree | null = null;
    try {
      tree = await ContainerTree.open(`${this.procRoot}/${init.pid}/root`);
      if (!(await pidIsContainers(this.procRoot, init.pid, containerId))) return leave(`pid ${init.pid} is not the container's init`);
      for (const e of entries) await tree.put(e);
      await tree.finish();
      return { written: true };
    } catch (err) {
      return { written: false, reason: err instanceof LeaveToArchive ? err.message : `failed: ${String(err)}`, partial: tree?.touched ?? false };
    } finally {
      await tree?.close();
    }
  }
}

function leave(reason: string): DirectWrite {
  return { written: false, reason, partial: false };
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Root's own and writable by nobody else: no process in the container but root can change it. */
function trusted(st: Stats): boolean {
  return st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0;
}

function splitPath(path: string): { parent: string; name: string } {
  const at = path.lastIndexOf("/");
  return at < 0 ? { parent: "", name: path } : { parent: path.slice(0, at), name: path.slice(at + 1) };
}

/** One container's tree, reached only through directory fds held here. */
class ContainerTree {
  /** Relative path ("" is /) to its open, checked directory. */
  private readonly dirs = new Map<string, FileHandle>();
  /** Directory entries get their mtime last, as the archive does (writing inside bumps it). */
  private readonly entryDirs: FileHandle[] = [];
  /** Whether anything in the container was changed yet. */
  touched = false;

  private constructor(root: FileHandle) {
    this.dirs.set("", root);
  }

  /** /proc/<pid>/root is a magic link: followed here, and only here. */
  static async open(rootPath: string): Promise<ContainerTree> {
    const root = await open(rootPath, O_RDONLY | O_DIRECTORY);
    const tree = new ContainerTree(root);
    if (!trusted(await root.stat())) {
      await tree.close();
      throw new LeaveToArchive("the container's / is not root's own");
    }
    return tree;
  }

  async put(e: TarEntry): Promise<void> {
    if (e.type === "dir") await this.dir(e.path, e);
    else await this.file(e);
  }

  async finish(): Promise<void> {
    for (const fh of this.entryDirs) await fh.utimes(0, 0);
  }

  async close(): Promise<void> {
    const all = [...this.dirs.values()];
    this.dirs.clear();
    await Promise.all(all.map((fh) => fh.close().catch(() => undefined)));
  }

  /** The path /proc/self/fd/<parent fd>/<name>: one lookup below a directory we hold. */
  private async below(path: string): Promise<{ at: string; name: string }> {
    const { parent, name } = splitPath(path);
    const dir = await this.dir(parent, null);
    return { at: `/proc/self/fd/${dir.fd}/${name}`, name };
  }

  /**
   * The open directory at `path`, made (0755 root, or the entry's owner and mode) when missing.
   * One we did not make must be root's own and writable by nobody else before we use or change it.
   */
  private async dir(path: string, entry: TarEntry | null): Promise<FileHandle> {
    const known = this.dirs.get(path);
    if (known && entry === null) return known;
    let fh = known;
    let made = false;
    if (!fh) {
      const { at } = await this.below(path);
      const st = await lstatOrNull(at);
      if (st !== null && !st.isDirectory()) throw new LeaveToArchive(`/${path} is not a directory`);
      if (st === null) {
        await mkdir(at, 0o700);
        made = true;
        this.touched = true;
      }
      fh = await open(at, DIR_FLAGS);
      this.dirs.set(path, fh);
      const got = await fh.stat();
      if (!got.isDirectory() || (!made && !trusted(got))) throw new LeaveToArchive(`/${path} is not root's own directory`);
    }
    if (made || entry !== null) {
      this.touched = true;
      await fh.chown(entry?.uid ?? 0, entry?.gid ?? 0);
      await fh.chmod(entry ? entry.mode & 0o7777 : MISSING_PARENT_MODE);
    }
    if (entry !== null) this.entryDirs.push(fh);
    return fh;
  }

  /**
   * Whatever holds the name (a file, a symlink, a FIFO, a device) is unlinked, never opened, and
   * a new file made in its place: what the archive does, and no open of a hostile inode.
   */
  private async file(e: TarEntry): Promise<void> {
    const { at } = await this.below(e.path);
    const st = await lstatOrNull(at);
    // The archive would remove a whole tree here; not ours to do by hand.
    if (st?.isDirectory()) throw new LeaveToArchive(`/${e.path} is a directory`);
    this.touched = true;
    if (st !== null) await unlink(at);
    const fh = await open(at, NEW_FILE_FLAGS, 0o600);
    try {
      await fh.writeFile(e.data ?? Buffer.alloc(0));
      await fh.chown(e.uid, e.gid);
      // After the chown, which would clear set-id bits.
      await fh.chmod(e.mode & 0o7777);
      await fh.utimes(0, 0);
    } finally {
      await fh.close();
    }
  }
}

import { randomBytes } from "node:crypto";
import { chmod, chown, lstat, mkdir, open, readFile, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { UserFacingError } from "../../core/errors.js";

/**
 * File writes for root-owned state that sshd and the keys user read while we change it: always a
 * temp file in the same directory, owner and mode set before the rename, so a reader sees the old
 * file or the new one, never a partial or briefly world-readable one.
 */

export interface Ownership {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export type Outcome = "created" | "updated" | "unchanged";

/**
 * Writes that the host refused (a full disk, a read-only or over-quota filesystem): the admin's
 * problem to fix, told as one line naming the file. Anything else stays a bug of ours.
 */
const HOST_REFUSALS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EIO: "input/output error",
};

function writeRefused(path: string, err: unknown): unknown {
  const why = HOST_REFUSALS[(err as NodeJS.ErrnoException).code ?? ""];
  return why ? new UserFacingError("state-write", `cannot write ${path}: ${why}; it is unchanged`) : err;
}

export async function writeFileAtomic(path: string, data: string | Buffer, own: Ownership): Promise<void> {
  const tmp = `${dirname(path)}/.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", 0o600).catch((err: unknown) => Promise.reject(writeRefused(path, err)));
  try {
    await fh.writeFile(data);
    await fh.chown(own.uid, own.gid);
    await fh.chmod(own.mode);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw writeRefused(path, err);
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw writeRefused(path, err);
  }
}

export interface FileState extends Ownership {
  readonly content: Buffer;
}

/** The file's bytes, mode and owner, or null if it does not exist. */
export async function readFileState(path: string): Promise<FileState | null> {
  try {
    const st = await lstat(path);
    if (!st.isFile()) throw new Error(`${path} exists and is not a regular file`);
    return { content: await readFile(path), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Make `path` hold exactly `data` with `own`; says whether anything had to change. */
export async function ensureFile(path: string, data: string | Buffer, own: Ownership): Promise<Outcome> {
  const want = typeof data === "string" ? Buffer.from(data) : data;
  const cur = await readFileState(path);
  if (cur && cur.content.equals(want) && cur.mode === own.mode && cur.uid === own.uid && cur.gid === own.gid) return "unchanged";
  await writeFileAtomic(path, want, own);
  return cur ? "updated" : "created";
}

/** Create `path` (parents with 0755) or fix its mode and owner. */
export async function ensureDir(path: string, own: Ownership): Promise<Outcome> {
  let existed = true;
  try {
    const st = await lstat(path);
    if (!st.isDirectory()) throw new Error(`${path} exists and is not a directory`);
    if ((st.mode & 0o7777) === own.mode && st.uid === own.uid && st.gid === own.gid) return "unchanged";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    existed = false;
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      await mkdir(path, { mode: own.mode });
    } catch (mkdirErr) {
      throw writeRefused(path, mkdirErr);
    }
  }
  await chown(path, own.uid, own.gid);
  await chmod(path, own.mode);
  return existed ? "updated" : "created";
}

export async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/**
 * sshd refuses an AuthorizedKeysCommand (and StrictModes refuses key files) unless the file and
 * every directory above it are root-owned and not group/world-writable. Check the same way it does
 * (after resolving symlinks) and return one problem per offending path.
 */
export async function rootOwnedPathProblems(path: string): Promise<string[]> {
  const problems: string[] = [];
  let p = await realpath(path);
  for (;;) {
    const st = await stat(p);
    if (st.uid !== 0) problems.push(`${p} is owned by uid ${st.uid}, not root`);
    if ((st.mode & 0o022) !== 0) problems.push(`${p} is group- or world-writable (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")})`);
    if (p === "/") break;
    p = dirname(p);
  }
  return problems.reverse();
}

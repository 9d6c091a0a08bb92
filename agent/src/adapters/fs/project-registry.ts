import { lstat, readdir, rmdir } from "node:fs/promises";
import { validateProject } from "../../core/container/project.js";
import { InputError } from "../../core/errors.js";
import { formatProjectRecord, parseProjectRecord, PROJECT_RECORD_MAX_BYTES, PROJECT_RECORD_SUFFIX, type ProjectRecord } from "../../core/projects/project-record.js";
import { readCappedTextFile } from "./capped-file.js";
import { ensureDir, ensureFile, removeFile, type Outcome } from "./atomic-file.js";

/**
 * The project registry on disk: `<dir>/<name>.json` (root 0600; the directory root 0700), written
 * like the key registry (temp file, owner and mode, rename: a reader sees the old record or the
 * new one). Records hold Podfiles, whose env may carry passwords for companion services: only
 * root reads them (the admin commands and the daemon).
 */
export interface ProjectRegistry {
  /** Names with a record file, sorted. Other files are ignored. */
  list(): Promise<string[]>;
  /** The record, validated; null when there is none. A damaged file is an InputError naming it. */
  read(name: string): Promise<ProjectRecord | null>;
  write(record: ProjectRecord): Promise<Outcome>;
  /** True if there was a record. */
  remove(name: string): Promise<boolean>;
}

export interface RegistryOwner {
  readonly uid: number;
  readonly gid: number;
}

const ROOT: RegistryOwner = { uid: 0, gid: 0 };

export function fsProjectRegistry(dir: string, owner: RegistryOwner = ROOT): ProjectRegistry {
  const path = (name: string): string => `${dir}/${validateProject(name)}${PROJECT_RECORD_SUFFIX}`;
  return {
    async list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw err;
      }
      return names
        .filter((n) => n.endsWith(PROJECT_RECORD_SUFFIX))
        .map((n) => n.slice(0, -PROJECT_RECORD_SUFFIX.length))
        .filter((n) => {
          try {
            return validateProject(n) === n;
          } catch {
            return false;
          }
        })
        .sort();
    },
    async read(name) {
      const file = path(name);
      // A symlink or a device is not a record we wrote: refuse it rather than follow it.
      const st = await lstat(file).catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? null : Promise.reject(err)));
      if (st === null) return null;
      if (!st.isFile()) throw new InputError(file, "is not a regular file", "a record written by podspawn add-project");
      const text = await readCappedTextFile(file, PROJECT_RECORD_MAX_BYTES);
      if (text === null) return null;
      const record = parseProjectRecord(text, file);
      if (record.name !== name) throw new InputError(`${file}: name`, `${JSON.stringify(record.name)} does not match the file name`, `${JSON.stringify(name)}`);
      return record;
    },
    async write(record) {
      const made = (await ensureDir(dir, { mode: 0o700, ...owner })) === "created";
      try {
        return await ensureFile(path(record.name), formatProjectRecord(record), { mode: 0o600, ...owner });
      } catch (err) {
        // A failed first write (a full disk) leaves nothing behind, not even the empty directory.
        if (made) await rmdir(dir).catch(() => undefined);
        throw err;
      }
    },
    remove: (name) => removeFile(path(name)),
  };
}

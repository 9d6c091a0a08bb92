import { readFile } from "node:fs/promises";
import { formatGithubIdRecord, parseGithubIdRecord } from "../../core/users/github-login.js";
import type { Layout } from "../../core/host/layout.js";
import { ensureFile } from "./atomic-file.js";

/** Which GitHub account (numeric id) each imported login was; public facts, root-written. */
export interface GithubIdStore {
  read(): Promise<Map<string, number>>;
  write(ids: ReadonlyMap<string, number>): Promise<void>;
}

export function githubIdsPath(layout: Layout): string {
  return `${layout.etcDir}/github-ids`;
}

export function fsGithubIds(layout: Layout): GithubIdStore {
  const path = githubIdsPath(layout);
  return {
    read: async () => parseGithubIdRecord(await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? "" : Promise.reject(err)))),
    write: async (ids) => void (await ensureFile(path, formatGithubIdRecord(ids), { mode: 0o644, uid: 0, gid: 0 })),
  };
}

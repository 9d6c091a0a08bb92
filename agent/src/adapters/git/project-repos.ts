import { randomBytes } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { InputError } from "../../core/errors.js";
import { describeExit, processMessage, runProcess, type RunProcess } from "../process/run-process.js";

/**
 * Clones of `--repo` projects, made by the node with git: a shallow clone of one branch into a
 * fresh directory under `<state>/projects/`, its commit read back, then either kept (renamed over
 * the project's previous clone) or dropped. A failed or timed-out clone leaves nothing behind.
 */

export interface FetchedRepo {
  /** Where the clone is until it is kept or dropped. */
  readonly dir: string;
  /** The commit the clone is at: what the project's record pins. */
  readonly commit: string;
  /** Make it the project's clone (the previous one goes). */
  keep(): Promise<string>;
  drop(): Promise<void>;
}

export interface ProjectRepos {
  fetch(project: string, url: string, branch: string | null): Promise<FetchedRepo>;
  remove(project: string): Promise<void>;
}

export const GIT_TIMEOUT_MS = 120_000;

// Nothing from the repository runs: no hooks, no fsmonitor, no ext:: transport, no prompts.
const SAFE = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "protocol.ext.allow=never", "-c", "protocol.file.allow=always"];
const GIT_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C", GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1", HOME: "/nonexistent" };

export function projectRepos(dir: string, run: RunProcess = runProcess, timeoutMs = GIT_TIMEOUT_MS): ProjectRepos {
  const finalDir = (project: string): string => `${dir}/${project}`;
  return {
    async fetch(project, url, branch) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const work = `${dir}/.${project}.${randomBytes(4).toString("hex")}.tmp`;
      try {
        const args = [...SAFE, "clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags", ...(branch ? ["--branch", branch] : []), "--", url, work];
        const clone = await run("git", args, { timeoutMs, env: GIT_ENV });
        if (clone.code !== 0) throw new InputError("--repo", `git could not clone ${url}${branch ? ` (branch ${branch})` : ""}: ${clone.timedOut ? describeExit(clone, timeoutMs) : processMessage(clone) || describeExit(clone, timeoutMs)}`);
        const head = await run("git", [...SAFE, "-C", work, "rev-parse", "HEAD"], { timeoutMs: 10_000, env: GIT_ENV });
        const commit = head.stdout.trim();
        if (head.code !== 0 || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) throw new Error(`git rev-parse HEAD in the clone of ${url} failed: ${processMessage(head)}`);
        return {
          dir: work,
          commit,
          keep: async () => {
            await rm(finalDir(project), { recursive: true, force: true });
            await rename(work, finalDir(project));
            return finalDir(project);
          },
          drop: () => rm(work, { recursive: true, force: true }),
        };
      } catch (err) {
        await rm(work, { recursive: true, force: true });
        throw err;
      }
    },
    remove: (project) => rm(finalDir(project), { recursive: true, force: true }),
  };
}

import type { PrimaryGroupFacts } from "../../core/users/user-plan.js";
import { describeExit, runProcess, type ProcessResult, type RunProcess } from "../process/run-process.js";

/**
 * Host accounts through the shadow-utils commands (useradd, usermod, userdel, groupadd) and
 * `getent`, so NSS and the tools' own locking of /etc/passwd are respected. The process runner is
 * injectable so the logic above it can be tested without touching the host.
 */

export interface AccountInfo {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
  /** Every group the account is in, primary included. */
  readonly groups: readonly string[];
  /** Its primary group's name, listed members and the other accounts with that primary gid. */
  readonly primaryGroup: PrimaryGroupFacts;
}
export interface GroupInfo {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export interface HostAccounts {
  getUser(name: string): Promise<AccountInfo | null>;
  getGroup(name: string): Promise<GroupInfo | null>;
  /** A login account for a pod user: own group, in `usersGroup`, /bin/sh, home /, password `*`. */
  createPodUser(name: string, usersGroup: string): Promise<void>;
  deleteUser(name: string): Promise<void>;
  ensureGroup(name: string): Promise<boolean>;
  /** A no-login service account with its own group (the AuthorizedKeysCommandUser). */
  ensureServiceUser(name: string): Promise<boolean>;
}

export class AccountError extends Error {
  override readonly name = "AccountError";
}

/** Retrying on the passwd lock is for a few concurrent admin runs, not for a wedged host. */
const MAX_LOCK_RETRIES = 20;

export function hostAccounts(run: RunProcess = runProcess, sleep: (ms: number) => Promise<void> = delay): HostAccounts {
  /** useradd and friends fail with "cannot lock /etc/passwd" when another one is running. */
  async function must(file: string, args: readonly string[]): Promise<ProcessResult> {
    for (let attempt = 0; ; attempt++) {
      const r = await run(file, args);
      if (r.code === 0) return r;
      if (attempt < MAX_LOCK_RETRIES && /cannot lock|try again later/i.test(r.stderr)) {
        await sleep(100 + 50 * attempt);
        continue;
      }
      throw new AccountError(`${file} ${args.join(" ")} failed (${describeExit(r)}): ${r.stderr.trim() || r.stdout.trim()}`);
    }
  }
  async function getent(db: string, key: string): Promise<string[] | null> {
    const r = await run("getent", [db, key]);
    if (r.code === 2) return null;
    if (r.code !== 0) throw new AccountError(`getent ${db} ${key} failed (${describeExit(r)}): ${r.stderr.trim()}`);
    return (r.stdout.split("\n")[0] ?? "").split(":");
  }
  const self: HostAccounts = {
    async getUser(name) {
      const f = await getent("passwd", name);
      if (!f) return null;
      const groups = (await must("id", ["-nG", "--", name])).stdout.trim().split(/\s+/).filter(Boolean);
      const gid = Number(f[3]);
      const group = await getent("group", String(gid));
      const everyone = (await must("getent", ["passwd"])).stdout.split("\n").map((l) => l.split(":"));
      const primaryGroup = {
        name: group?.[0] ?? null,
        members: (group?.[3] ?? "").split(",").filter(Boolean),
        sharedBy: everyone.filter((e) => e[0] && e[0] !== name && Number(e[3]) === gid).map((e) => e[0] as string),
      };
      return { name, uid: Number(f[2]), gid, home: f[5] ?? "", shell: f[6] ?? "", groups, primaryGroup };
    },
    async getGroup(name) {
      const f = await getent("group", name);
      if (!f) return null;
      return { name, gid: Number(f[2]), members: (f[3] ?? "").split(",").filter(Boolean) };
    },
    async createPodUser(name, usersGroup) {
      await must("useradd", ["--user-group", "--groups", usersGroup, "--shell", "/bin/sh", "--home-dir", "/", "--no-create-home", "--", name]);
      try {
        // useradd leaves `!` (locked), which sshd refuses even for key logins; `*` means no password.
        await must("usermod", ["-p", "*", "--", name]);
      } catch (err) {
        await run("userdel", ["--", name]);
        throw err;
      }
    },
    async deleteUser(name) {
      await must("userdel", ["--", name]);
    },
    async ensureGroup(name) {
      if (await self.getGroup(name)) return false;
      await must("groupadd", ["--system", "--", name]);
      return true;
    },
    async ensureServiceUser(name) {
      if (await self.getUser(name)) return false;
      await must("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--", name]);
      return true;
    },
  };
  return self;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

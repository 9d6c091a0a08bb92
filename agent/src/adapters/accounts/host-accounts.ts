import { execFile } from "node:child_process";

/**
 * Host accounts through the shadow-utils commands (useradd, usermod, userdel, groupadd) and
 * `getent`, so NSS and the tools' own locking of /etc/passwd are respected. The runner is
 * injectable (zx style) so the logic above it can be tested without touching the host.
 */

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
export type Run = (file: string, args: readonly string[]) => Promise<RunResult>;

export const runCommand: Run = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { encoding: "utf8", timeout: 30_000, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });

export interface AccountInfo {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
  /** Every group the account is in, primary included. */
  readonly groups: readonly string[];
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

export function hostAccounts(run: Run = runCommand): HostAccounts {
  /** useradd and friends fail with "cannot lock /etc/passwd" when another one is running. */
  async function must(file: string, args: readonly string[]): Promise<RunResult> {
    for (let attempt = 0; ; attempt++) {
      const r = await run(file, args);
      if (r.code === 0) return r;
      if (attempt < 20 && /cannot lock|try again later/i.test(r.stderr)) {
        await new Promise((res) => setTimeout(res, 100 + 50 * attempt));
        continue;
      }
      throw new AccountError(`${file} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    }
  }
  async function getent(db: string, key: string): Promise<string[] | null> {
    const r = await run("getent", [db, key]);
    if (r.code === 2) return null;
    if (r.code !== 0) throw new AccountError(`getent ${db} ${key} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return (r.stdout.split("\n")[0] ?? "").split(":");
  }
  const self: HostAccounts = {
    async getUser(name) {
      const f = await getent("passwd", name);
      if (!f) return null;
      const groups = (await must("id", ["-nG", "--", name])).stdout.trim().split(/\s+/).filter(Boolean);
      return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "", shell: f[6] ?? "", groups };
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

import type { AddKeysDeps } from "../../../agent/src/admin/add-keys.js";
import { layoutFor } from "../../../agent/src/core/host/layout.js";
import { parsePublicKey, type PublicKey } from "../../../agent/src/core/users/keys.js";
import { FakeAccounts } from "./fake-accounts.js";
import { fakeDaemon, type FakeDaemon } from "./fake-control.js";
import { FakeRegistry } from "./fake-registry.js";
import { freshEd25519 } from "./test-keys.js";

/** An installed node in memory: the groups and dirs `install` makes, no pod users yet. */
export interface AdminWorld {
  readonly deps: AddKeysDeps;
  readonly accounts: FakeAccounts;
  readonly registry: FakeRegistry;
  readonly daemon: FakeDaemon;
  /** Every mutating call of every fake, in order. */
  readonly log: string[];
  readonly out: string[];
  readonly err: string[];
  readonly sleeps: number[];
  /** Text files the use cases may read. */
  readonly files: Map<string, string>;
  /** GitHub logins fetched, in order, and what each publishes. */
  readonly fetched: string[];
  readonly github: Map<string, string>;
  /** The numeric account each login is now, and the node's record of earlier imports. */
  readonly githubAccounts: Map<string, number>;
  readonly githubIds: Map<string, number>;
  /** uid -> how many host processes it has (its open ssh connections); endProcesses ends them. */
  readonly hostProcesses: Map<number, number>;
}

export function adminWorld(): AdminWorld {
  const log: string[] = [];
  const layout = layoutFor("podspawn");
  const accounts = new FakeAccounts(log);
  void accounts.ensureGroup(layout.usersGroup);
  void accounts.ensureServiceUser(layout.keysUser);
  void accounts.ensureGroup("docker");
  const registry = new FakeRegistry(log);
  const daemon = fakeDaemon(log);
  const out: string[] = [];
  const err: string[] = [];
  const sleeps: number[] = [];
  const files = new Map<string, string>();
  const fetched: string[] = [];
  const github = new Map<string, string>();
  /** login -> the numeric id GitHub answers now (default 1); githubIds: the record on the node. */
  const githubAccounts = new Map<string, number>();
  const githubIds = new Map<string, number>();
  const hostProcesses = new Map<number, number>();
  const deps: AddKeysDeps = {
    layout,
    accounts,
    registry,
    control: daemon.control,
    say: (line) => out.push(line),
    warn: (line) => err.push(line),
    sleep: async (ms) => void sleeps.push(ms),
    endProcesses: async (uid) => {
      log.push(`endProcesses ${[...accounts.users.values()].find((u) => u.uid === uid)?.name ?? uid}`);
      const n = hostProcesses.get(uid) ?? 0;
      hostProcesses.delete(uid);
      return n;
    },
    readText: async (path) => {
      const text = files.get(path);
      if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
      return text;
    },
    fetchGithub: async (login) => {
      fetched.push(login);
      return github.get(login) ?? github.get(login.toLowerCase()) ?? "";
    },
    githubAccountId: async (login) => githubAccounts.get(login.toLowerCase()) ?? 1,
    githubIds: {
      read: async () => new Map(githubIds),
      write: async (ids) => {
        log.push("writeGithubIds");
        githubIds.clear();
        for (const [k, v] of ids) githubIds.set(k, v);
      },
    },
  };
  return { deps, accounts, registry, daemon, log, out, err, sleeps, files, fetched, github, githubAccounts, githubIds, hostProcesses };
}

export function keyLines(n: number): string[] {
  return Array.from({ length: n }, (_, i) => freshEd25519(`k${i}@test`));
}

export function parsed(lines: readonly string[]): PublicKey[] {
  return lines.map((l) => parsePublicKey(l));
}

import { access } from "node:fs/promises";
import type { ControlRequest, ResponseFor } from "../core/protocol/control-protocol.js";
import { describeError, InputError, UserFacingError } from "../core/errors.js";
import type { PublicKey } from "../core/users/keys.js";
import type { Layout } from "../core/host/layout.js";
import { accountProblem, keyConflicts } from "../core/users/user-plan.js";
import { validateUsername } from "../core/users/username.js";
import { sendControl } from "../adapters/daemon/control-client.js";
import { readRegistry, removeUserFiles, writeAuthorizedFile, writeUserKeys } from "../adapters/fs/user-registry.js";
import { hostAccounts, type AccountInfo, type HostAccounts } from "../adapters/accounts/host-accounts.js";

/**
 * Pod users as the host sees them: a login account, a registry file and a rendered authorized
 * keys file, kept together. Every operation checks everything it can before it writes anything,
 * so bad input loses nothing.
 */

export type Control = <R extends ControlRequest>(request: R) => Promise<ResponseFor<R> | null>;

export interface PodUserDeps {
  readonly accounts: HostAccounts;
  readonly control: Control;
  /** Progress for the admin (stdout). */
  readonly say: (line: string) => void;
  /** Problems that do not undo the change (stderr). */
  readonly warn: (line: string) => void;
}

export function defaultPodUserDeps(layout: Layout, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): PodUserDeps {
  return {
    accounts: hostAccounts(),
    control: (request) => sendControl(layout, request),
    say: (line) => io.stdout.write(line + "\n"),
    warn: (line) => io.stderr.write(line + "\n"),
  };
}

export interface Prerequisites {
  readonly keysGid: number;
}

/** The groups and directories `podspawn install` creates; refuse early if they are missing. */
export async function checkInstalled(layout: Layout, accounts: HostAccounts): Promise<Prerequisites> {
  const keys = await accounts.getGroup(layout.keysUser);
  const users = await accounts.getGroup(layout.usersGroup);
  const missing: string[] = [];
  if (!keys) missing.push(`group ${layout.keysUser}`);
  if (!users) missing.push(`group ${layout.usersGroup}`);
  for (const dir of [layout.usersDir, layout.authorizedKeysDir]) {
    try {
      await access(dir);
    } catch {
      missing.push(dir);
    }
  }
  if (missing.length > 0 || !keys) {
    throw new UserFacingError("not-installed", `${layout.instance} is not installed (missing ${missing.join(", ")}); run 'podspawn install${layout.instance === "podspawn" ? "" : ` --instance ${layout.instance}`}' first`);
  }
  return { keysGid: keys.gid };
}

/** Refuse keys someone else already has, naming them. */
export function refuseConflicts(registry: ReadonlyMap<string, readonly PublicKey[]>, user: string, keys: readonly PublicKey[]): void {
  const conflicts = keyConflicts(registry, user, keys);
  const first = conflicts[0];
  if (first) throw new InputError("key", `${first.fingerprint} already belongs to pod user ${JSON.stringify(first.owner)}`, "each key belongs to one user; remove it there first");
}

export function refuseAccount(name: string, account: AccountInfo | null, layout: Layout): void {
  const problem = accountProblem(name, account, layout.usersGroup);
  if (problem) throw new UserFacingError("account-conflict", problem);
}

export interface ApplyResult {
  readonly createdAccount: boolean;
  readonly changedFiles: boolean;
}

/**
 * Make `name` a pod user with exactly `keys`. The caller has validated the name, the keys, key
 * ownership and the account. A newly made account is removed again if the files cannot be written.
 */
export async function applyPodUser(layout: Layout, name: string, keys: readonly PublicKey[], pre: Prerequisites, deps: PodUserDeps): Promise<ApplyResult> {
  let account = await deps.accounts.getUser(name);
  refuseAccount(name, account, layout);
  let createdAccount = false;
  if (!account) {
    await deps.accounts.createPodUser(name, layout.usersGroup);
    createdAccount = true;
    account = await deps.accounts.getUser(name);
    if (!account) throw new Error(`useradd succeeded but ${name} has no passwd entry`);
    // Paranoia against a site useradd default (e.g. EXTRA_GROUPS) putting it into docker.
    refuseAccount(name, account, layout);
  }
  try {
    const a = await writeUserKeys(layout, name, keys, pre.keysGid);
    const b = await writeAuthorizedFile(layout, name, keys, account.gid);
    return { createdAccount, changedFiles: a !== "unchanged" || b !== "unchanged" };
  } catch (err) {
    if (createdAccount) {
      await removeUserFiles(layout, name).catch(() => undefined);
      await deps.accounts.deleteUser(name).catch(() => undefined);
    }
    throw err;
  }
}

/** Tell the daemon the registry changed; a missing daemon is fine, a failing one is a warning. */
export async function notifyReload(deps: PodUserDeps): Promise<void> {
  try {
    const res = await deps.control({ op: "reload" });
    if (res === null) deps.say("daemon not running; it reads the registry when it starts");
    else if (!res.ok) deps.warn(`warning: the daemon refused to reload: ${res.error}`);
  } catch (err) {
    deps.warn(`warning: could not notify the daemon: ${describeError(err)}`);
  }
}

/** Live sessions of `user` according to the daemon; [] when no daemon runs. */
export async function liveSessions(user: string, deps: PodUserDeps): Promise<string[]> {
  const res = await deps.control({ op: "status" });
  if (res === null) return [];
  if (!res.ok) throw new UserFacingError("daemon-status", `the daemon could not report sessions: ${res.error}`);
  return res.sessions.filter((s) => s.user === user).map((s) => `${s.project} (${s.container}, since ${s.since})`);
}

export interface RemoveOptions {
  /** Remove even with live sessions (they are ended). */
  readonly force: boolean;
}

/**
 * Remove a pod user: the rendered file first (no new logins), then the registry, then the daemon
 * ends their containers, then the account. Returns false if there was nothing to remove.
 */
export async function removePodUser(layout: Layout, rawName: string, options: RemoveOptions, deps: PodUserDeps): Promise<boolean> {
  const name = validateUsername(rawName);
  const account = await deps.accounts.getUser(name);
  if (account && !account.groups.includes(layout.usersGroup)) {
    throw new UserFacingError("account-conflict", `host account ${JSON.stringify(name)} is not a pod user (not in group ${layout.usersGroup}); refusing to remove it`);
  }
  const registry = await readRegistry(layout);
  if (!account && !registry.has(name)) return false;
  const sessions = await liveSessions(name, deps);
  if (sessions.length > 0 && !options.force) {
    throw new UserFacingError("live-sessions", `${name} has ${sessions.length} live session(s): ${sessions.join("; ")}; use --force to end them and remove the user`);
  }
  if (await removeUserFiles(layout, name)) deps.say(`removed ${name}'s keys`);
  await notifyReload(deps);
  const evicted = await deps.control({ op: "evict", user: name });
  if (evicted !== null) {
    if (!evicted.ok) throw new UserFacingError("evict-failed", `${name}'s keys are gone but the daemon could not end their containers: ${evicted.error}`);
    deps.say(`ended ${evicted.removed} container(s) of ${name}`);
  }
  if (account) {
    await deleteAccountWhenIdle(name, deps.accounts);
    deps.say(`removed host account ${name}`);
  }
  return true;
}

/** userdel refuses while the user still has processes; evicted sessions take a moment to exit. */
async function deleteAccountWhenIdle(name: string, accounts: HostAccounts): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await accounts.deleteUser(name);
      return;
    } catch (err) {
      if (attempt >= 20 || !/currently used by process/.test(describeError(err))) throw err;
      await new Promise((res) => setTimeout(res, 150));
    }
  }
}

import { POD_ID_BASE } from "../container/account-plan.js";
import type { PublicKey } from "./keys.js";

/**
 * Decisions about pod users that need no I/O: who owns a key, whether a host account may be used
 * as a pod user, and what `sync` has to do to reach the declared state.
 */

export interface KeyConflict {
  readonly fingerprint: string;
  readonly owner: string;
}

/** Keys in `keys` already registered to someone other than `user`. A key identifies one person. */
export function keyConflicts(registry: ReadonlyMap<string, readonly PublicKey[]>, user: string, keys: readonly PublicKey[]): KeyConflict[] {
  const owners = new Map<string, string>();
  for (const [name, ks] of registry) if (name !== user) for (const k of ks) owners.set(k.fingerprint, name);
  return keys.flatMap((k) => {
    const owner = owners.get(k.fingerprint);
    return owner === undefined ? [] : [{ fingerprint: k.fingerprint, owner }];
  });
}

export interface AccountFacts {
  readonly groups: readonly string[];
  readonly primaryGroup: PrimaryGroupFacts;
}

/** The account's primary group as the host has it. */
export interface PrimaryGroupFacts {
  /** Null when no group has the account's gid. */
  readonly name: string | null;
  /** Supplementary members listed in /etc/group. */
  readonly members: readonly string[];
  /** Other accounts whose primary gid it is too. */
  readonly sharedBy: readonly string[];
}

/**
 * The session socket's directory is root:<primary group> 0710: whoever is in that group can
 * reach the daemon as this user. So the group must be the user's own: named after it, with no
 * other member and no other account on it (useradd --user-group makes exactly that).
 */
export function primaryGroupProblem(name: string, g: PrimaryGroupFacts): string | null {
  const others = [...new Set([...g.members.filter((m) => m !== name), ...g.sharedBy.filter((m) => m !== name)])].sort();
  if (g.name === name && others.length === 0) return null;
  const what = g.name === null ? "has no group entry" : g.name !== name ? `is ${JSON.stringify(g.name)}, not its own` : `also holds ${others.map((o) => JSON.stringify(o)).join(", ")}`;
  return `host account ${JSON.stringify(name)}'s primary group ${what}; its session socket is guarded by that group, so it must be the account's private group`;
}

/**
 * Why a pod user cannot have its container id (POD_ID_BASE + host uid), or null if it can: the
 * host uid must be one a pod account can have, and the id must be no host account's uid (a site
 * with uids above POD_ID_BASE, e.g. from a directory, would otherwise share one with someone).
 */
export function podIdProblem(name: string, uids: ReadonlyMap<string, number>): string | null {
  const uid = uids.get(name);
  if (uid === undefined || !Number.isInteger(uid) || uid < 1 || uid >= POD_ID_BASE) return `host account ${JSON.stringify(name)} has uid ${uid}; pod accounts need a uid from 1 to ${POD_ID_BASE - 1}`;
  const holder = [...uids].find(([, other]) => other === POD_ID_BASE + uid);
  return holder ? `host account ${JSON.stringify(name)}'s container id ${POD_ID_BASE + uid} is the uid of host account ${JSON.stringify(holder[0])}` : null;
}

/**
 * Why an existing host account must not be (re)used as a pod user, or null if it may. An account
 * outside our group belongs to someone else; one in `docker` is root-equivalent on this host.
 */
export function accountProblem(name: string, account: AccountFacts | null, usersGroup: string): string | null {
  if (account === null) return null;
  if (!account.groups.includes(usersGroup)) return `host account ${JSON.stringify(name)} exists and is not a pod user (not in group ${usersGroup}); refusing to take it over`;
  if (account.groups.includes("docker")) return `host account ${JSON.stringify(name)} is in the docker group, which is root-equivalent; remove it from that group first`;
  return primaryGroupProblem(name, account.primaryGroup);
}

export interface DesiredUser {
  readonly name: string;
  readonly keys: readonly PublicKey[];
}
export interface UserChange {
  readonly name: string;
  readonly keys: readonly PublicKey[];
  readonly added: number;
  readonly removed: number;
}
export interface SyncPlan {
  readonly create: readonly DesiredUser[];
  readonly update: readonly UserChange[];
  readonly remove: readonly string[];
  readonly unchanged: readonly string[];
}

/** The steps from `current` (pod users and their keys) to `desired`; keys compared by fingerprint. */
export function planSync(current: ReadonlyMap<string, readonly PublicKey[]>, desired: readonly DesiredUser[]): SyncPlan {
  const create: DesiredUser[] = [];
  const update: UserChange[] = [];
  const unchanged: string[] = [];
  for (const want of desired) {
    const have = current.get(want.name);
    if (!have) {
      create.push(want);
      continue;
    }
    const haveFp = have.map((k) => k.fingerprint);
    const wantFp = want.keys.map((k) => k.fingerprint);
    const added = wantFp.filter((f) => !haveFp.includes(f)).length;
    const removed = haveFp.filter((f) => !wantFp.includes(f)).length;
    if (added === 0 && removed === 0 && haveFp.length === wantFp.length && haveFp.every((f, i) => f === wantFp[i])) unchanged.push(want.name);
    else update.push({ name: want.name, keys: want.keys, added, removed });
  }
  const listed = new Set(desired.map((d) => d.name));
  const remove = [...current.keys()].filter((n) => !listed.has(n)).sort();
  return { create, update, remove, unchanged };
}

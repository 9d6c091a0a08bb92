import { UserFacingError } from "../core/errors.js";
import type { PublicKey } from "../core/users/keys.js";
import type { Layout } from "../core/host/layout.js";
import { accountProblem } from "../core/users/user-plan.js";
import type { AccountInfo } from "../adapters/accounts/host-accounts.js";
import type { AdminDeps } from "./deps.js";
import type { Prerequisites } from "./prerequisites.js";

/**
 * A pod user as the host sees it: a login account, a registry entry and a rendered authorized
 * keys file, kept together.
 */

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
export async function applyPodUser(name: string, keys: readonly PublicKey[], pre: Prerequisites, deps: AdminDeps): Promise<ApplyResult> {
  const existing = await deps.accounts.getUser(name);
  refuseAccount(name, existing, deps.layout);
  if (existing) return { createdAccount: false, changedFiles: await writeFiles(name, keys, pre, existing.gid, deps) };
  await deps.accounts.createPodUser(name, deps.layout.usersGroup);
  try {
    const account = await deps.accounts.getUser(name);
    if (!account) throw new Error(`useradd succeeded but ${name} has no passwd entry`);
    // Paranoia against a site useradd default (e.g. EXTRA_GROUPS) putting it into docker.
    refuseAccount(name, account, deps.layout);
    return { createdAccount: true, changedFiles: await writeFiles(name, keys, pre, account.gid, deps) };
  } catch (err) {
    await undoNewAccount(name, deps);
    throw err;
  }
}

async function writeFiles(name: string, keys: readonly PublicKey[], pre: Prerequisites, userGid: number, deps: AdminDeps): Promise<boolean> {
  const a = await deps.registry.writeKeys(name, keys, pre.keysGid);
  const b = await deps.registry.writeAuthorized(name, keys, userGid);
  return a !== "unchanged" || b !== "unchanged";
}

/** Best effort: the write error is what the admin needs to see, not a cleanup error after it. */
async function undoNewAccount(name: string, deps: AdminDeps): Promise<void> {
  await deps.registry.remove(name).catch(() => undefined);
  await deps.accounts.deleteUser(name).catch(() => undefined);
}

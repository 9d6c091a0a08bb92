import { describeError, UserFacingError } from "../core/errors.js";
import { validateUsername } from "../core/users/username.js";
import type { AdminDeps } from "./deps.js";
import { notifyReload } from "./notify.js";

/**
 * `remove-user` (and the removals of `sync`): the rendered file first (no new logins), then the
 * registry, then the daemon ends their containers, then the account's open connections, then the
 * account.
 */

export interface RemoveOptions {
  /** Remove even with live sessions (they are ended). */
  readonly force: boolean;
}

/** userdel refuses while the user's processes exit; evicted sessions take a moment to end. */
const USERDEL_ATTEMPTS = 20;
const USERDEL_RETRY_MS = 150;

/** Live sessions of `user` according to the daemon; [] when no daemon runs. */
export async function liveSessions(user: string, deps: Pick<AdminDeps, "control">): Promise<string[]> {
  const res = await deps.control({ op: "status" });
  if (res === null) return [];
  if (!res.ok) throw new UserFacingError("daemon-status", `the daemon could not report sessions: ${res.error}`);
  return res.sessions.filter((s) => s.user === user).map((s) => `${s.project} (${s.container}, since ${s.since})`);
}

/** Returns false if there was nothing to remove. */
export async function removePodUser(rawName: string, options: RemoveOptions, deps: AdminDeps): Promise<boolean> {
  const name = validateUsername(rawName);
  const account = await deps.accounts.getUser(name);
  if (account && !account.groups.includes(deps.layout.usersGroup)) {
    throw new UserFacingError("account-conflict", `host account ${JSON.stringify(name)} is not a pod user (not in group ${deps.layout.usersGroup}); refusing to remove it`);
  }
  const registry = await deps.registry.read();
  if (!account && !registry.has(name)) return false;
  const sessions = await liveSessions(name, deps);
  if (sessions.length > 0 && !options.force) {
    throw new UserFacingError("live-sessions", `${name} has ${sessions.length} live session(s): ${sessions.join("; ")}; use --force to end them and remove the user`);
  }
  if (await deps.registry.remove(name)) deps.say(`removed ${name}'s keys`);
  await notifyReload(deps);
  const evicted = await deps.control({ op: "evict", user: name });
  if (evicted !== null) {
    if (!evicted.ok) throw new UserFacingError("evict-failed", `${name}'s keys are gone but the daemon could not end their containers: ${evicted.error}`);
    deps.say(`ended ${evicted.removed} container(s) of ${name}`);
  }
  if (account) {
    // A live connection (a ControlMaster above all) could still open sessions: its keys were
    // checked when it logged in. End it, and every other process the account has on the host.
    const ended = await deps.endProcesses(account.uid);
    if (ended > 0) deps.say(`ended ${ended} host process(es) of ${name} (its open ssh connections)`);
    await deleteAccountWhenIdle(name, deps);
    deps.say(`removed host account ${name}`);
  }
  return true;
}

/** The `remove-user` command: a name that is no pod user is an error here. */
export async function removeUser(name: string, options: RemoveOptions, deps: AdminDeps): Promise<void> {
  if (!(await removePodUser(name, options, deps))) throw new UserFacingError("no-such-user", `no pod user named ${JSON.stringify(name)}`);
}

async function deleteAccountWhenIdle(name: string, deps: Pick<AdminDeps, "accounts" | "sleep">): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.accounts.deleteUser(name);
      return;
    } catch (err) {
      if (attempt >= USERDEL_ATTEMPTS || !/currently used by process/.test(describeError(err))) throw err;
      await deps.sleep(USERDEL_RETRY_MS);
    }
  }
}

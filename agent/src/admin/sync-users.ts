import { basename } from "node:path";
import { describeError, InputError, UserFacingError } from "../core/errors.js";
import { massRemovalRefusal } from "../core/users/removal-guard.js";
import { parseUsersConfig } from "../core/config/users-config.js";
import { parsePublicKey, type PublicKey } from "../core/users/keys.js";
import { planSync, type DesiredUser, type SyncPlan } from "../core/users/user-plan.js";
import type { AdminDeps, ReadText } from "./deps.js";
import { notifyReload } from "./notify.js";
import { applyPodUser, refuseAccount } from "./pod-account.js";
import { checkInstalled } from "./prerequisites.js";
import { removePodUser } from "./remove-user.js";

/**
 * `sync`: make this node's pod users exactly those of a users.yaml. The whole file is validated,
 * and every listed name checked against the host's accounts, before anything changes.
 */

export interface SyncRequest {
  readonly file: string;
  /** Print the plan, change nothing. */
  readonly dryRun: boolean;
  /** Go ahead even when the file removes all users, or more than `maxRemovalShare` of them. @default false */
  readonly allowMassRemoval?: boolean;
  /** @default DEFAULT_MAX_REMOVAL_SHARE */
  readonly maxRemovalShare?: number;
}

export interface SyncDeps extends AdminDeps {
  readonly readText: ReadText;
}

async function loadDesired(file: string, readText: ReadText): Promise<DesiredUser[]> {
  let text: string;
  try {
    text = await readText(file);
  } catch (err) {
    throw new InputError("--file", `cannot read ${file}: ${describeError(err)}`);
  }
  const config = parseUsersConfig(text, basename(file));
  return config.users.map((u) => ({ name: u.name, keys: u.keys.map((k) => parsePublicKey(k)) }));
}

/** Pod users are registry entries whose account is ours (or gone); others are never touched. */
async function currentPodUsers(desired: readonly DesiredUser[], deps: AdminDeps): Promise<Map<string, PublicKey[]>> {
  const current = new Map<string, PublicKey[]>();
  for (const [name, keys] of await deps.registry.read()) {
    const account = await deps.accounts.getUser(name);
    if (account === null || account.groups.includes(deps.layout.usersGroup)) current.set(name, keys);
    else if (!desired.some((d) => d.name === name)) deps.warn(`warning: ${name} has a registry file but host account ${name} is not a pod user; leaving it alone`);
  }
  return current;
}

function sayPlan(plan: SyncPlan, dryRun: boolean, say: (line: string) => void): void {
  const verb = dryRun ? "would " : "";
  for (const u of plan.create) say(`${verb}create ${u.name} with ${u.keys.length} key(s)`);
  for (const u of plan.update) say(`${verb}update ${u.name}: +${u.added} -${u.removed} key(s), now ${u.keys.length}`);
  for (const n of plan.remove) say(`${verb}remove ${n}`);
}

export async function syncUsers(request: SyncRequest, deps: SyncDeps): Promise<SyncPlan> {
  const desired = await loadDesired(request.file, deps.readText);
  const pre = await checkInstalled(deps);
  const current = await currentPodUsers(desired, deps);
  for (const d of desired) refuseAccount(d.name, await deps.accounts.getUser(d.name), deps.layout);

  const plan = planSync(current, desired);
  sayPlan(plan, request.dryRun, deps.say);
  if (plan.create.length + plan.update.length + plan.remove.length === 0) {
    deps.say(`nothing to change (${plan.unchanged.length} user(s) up to date)`);
    return plan;
  }
  if (request.dryRun) return plan;
  const mass = massRemovalRefusal(current.size, plan.remove.length, request.maxRemovalShare ?? 0.5);
  if (mass !== null && request.allowMassRemoval !== true) {
    throw new UserFacingError("mass-removal", `refusing to sync ${basename(request.file)}: ${mass}; nothing changed. If that is intended, run sync again with --allow-mass-removal`);
  }
  for (const u of [...plan.create, ...plan.update]) await applyPodUser(u.name, u.keys, pre, deps);
  // Removal ends live sessions: the file is the truth, and an unlisted user must lose access.
  for (const n of plan.remove) await removePodUser(n, { force: true }, deps);
  await notifyReload(deps);
  deps.say(`synced: ${plan.create.length} created, ${plan.update.length} updated, ${plan.remove.length} removed, ${plan.unchanged.length} unchanged`);
  return plan;
}

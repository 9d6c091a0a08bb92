import type { ContainerRuntime, ManagedContainer } from "../../core/ports/container-runtime.js";
import { SERVICE_LABEL } from "../../core/podfile/plan.js";
import type { KeyedLock } from "../../support/keyed-lock.js";
import type { Logger } from "../log.js";
import type { NetworkLinger } from "./network-linger.js";

/** What eviction needs from the environment table, without owning it. */
export interface EvictionDeps<E extends { readonly user: string }> {
  readonly instance: string;
  readonly runtime: ContainerRuntime;
  readonly lock: KeyedLock;
  readonly networks: NetworkLinger;
  readonly log: Logger;
  /** The environments the table holds now. */
  readonly environments: () => readonly E[];
  /** Remove one now, sessions or not. */
  readonly destroy: (env: E, reason: string) => Promise<void>;
  /** Remove the companion services of (user, project) the table does not know of, with their network. */
  readonly servicesDown: (user: string, project: string) => Promise<number>;
  /** Remove services networks of `user` (of `project`, or all) no environment owns: those whose containers were never made. */
  readonly leftoverServices: (user: string, project: string | null, reason: string) => Promise<void>;
}

/**
 * Remove containers of a user the table does not hold; the services among them go with their
 * network. Returns how many environment (not service) containers went.
 */
export async function removeStrays(deps: Pick<EvictionDeps<{ readonly user: string }>, "runtime" | "servicesDown">, stray: readonly ManagedContainer[], user: string): Promise<number> {
  const withServices = new Set<string>();
  let environments = 0;
  for (const c of stray) {
    if (c.labels[SERVICE_LABEL] !== undefined) withServices.add(c.project);
    else {
      await deps.runtime.remove(c.id);
      environments++;
    }
  }
  for (const project of withServices) await deps.servicesDown(user, project);
  return environments;
}

/**
 * Remove every environment of a user and their persistent home volumes (remove-user, sync).
 * The volumes go too: a later account of the same name must not inherit someone's files.
 * Returns how many containers went.
 */
export async function evictUser<E extends { readonly user: string }>(deps: EvictionDeps<E>, user: string): Promise<number> {
  const mine = deps.environments().filter((e) => e.user === user);
  for (const env of mine) await deps.destroy(env, "evicted");
  // Containers the table does not know (e.g. created by an older daemon) go as well.
  const stray = (await deps.runtime.listManaged(deps.instance)).filter((c) => c.user === user);
  const strays = await removeStrays(deps, stray, user);
  await deps.leftoverServices(user, null, "evicted");
  await deps.lock.run(user, async () => {
    const prefix = `${deps.instance}.${user}.`;
    for (const v of await deps.runtime.listVolumes(deps.instance)) {
      if (!v.startsWith(prefix)) continue;
      await deps.runtime.removeVolume(v);
      deps.log({ kind: "volume-removed", user, volume: v });
    }
    await deps.networks.removeNow(user);
  });
  return mine.length + strays;
}

/**
 * The key registry is the truth: containers and home volumes of users who are no longer
 * registered (removed while the daemon was down, or by hand) are evicted. Returns those users.
 */
export async function evictUnregistered<E extends { readonly user: string }>(deps: EvictionDeps<E>, registered: ReadonlySet<string>): Promise<string[]> {
  const users = new Set<string>(deps.environments().map((e) => e.user));
  for (const c of await deps.runtime.listManaged(deps.instance)) if (c.user) users.add(c.user);
  for (const v of await deps.runtime.listVolumes(deps.instance)) {
    // `<instance>.<user>.<project>.home`: none of the parts can contain a dot.
    const user = v.split(".")[1];
    if (user) users.add(user);
  }
  const gone = [...users].filter((u) => !registered.has(u)).sort();
  for (const user of gone) await evictUser(deps, user);
  return gone;
}

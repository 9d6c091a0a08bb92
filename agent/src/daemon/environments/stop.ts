import { removeStrays, type EvictionDeps } from "./eviction.js";

export interface StopResult {
  readonly environments: number;
  readonly volumes: number;
}

/**
 * Whether `name` is a persistent volume of `user` (of `project`, or of any project): the home
 * (`<instance>.<user>.<project>.home`) or a service's (`<instance>.<user>.<project>.<volume>`).
 * None of the parts can contain a dot.
 */
function isPersistentVolumeOf(instance: string, user: string, project: string | null, name: string): boolean {
  return name.startsWith(project === null ? `${instance}.${user}.` : `${instance}.${user}.${project}.`) && name.split(".").length === 4;
}

/**
 * `podspawn stop`: remove the user's environments (one project's, or all), sessions or not, and
 * with `purge` their persistent home volumes. Unlike eviction the user stays, and so does their
 * network (it lingers as after any last container). Sessions are ended by the caller first, each
 * with its line.
 */
export async function stopEnvironments<E extends { readonly user: string; readonly project: string }>(deps: EvictionDeps<E>, user: string, project: string | null, purge: boolean): Promise<StopResult> {
  const mine = (p: string): boolean => project === null || p === project;
  const known = deps.environments().filter((e) => e.user === user && mine(e.project));
  for (const env of known) await deps.destroy(env, "stopped");
  // What the table does not hold (a container left stopped, or made by an older daemon) goes too.
  const stray = (await deps.runtime.listManaged(deps.instance)).filter((c) => c.user === user && mine(c.project));
  const strays = await removeStrays(deps, stray, user);
  await deps.leftoverServices(user, project, "stopped");
  let volumes = 0;
  if (purge) {
    await deps.lock.run(user, async () => {
      for (const v of await deps.runtime.listVolumes(deps.instance)) {
        if (!isPersistentVolumeOf(deps.instance, user, project, v)) continue;
        await deps.runtime.removeVolume(v);
        deps.log({ kind: "volume-removed", user, volume: v });
        volumes++;
      }
    });
  }
  return { environments: known.length + strays, volumes };
}

/** The projects of `user` that have something here: an environment, a container, or (for purge) a home volume. */
export async function projectsOf<E extends { readonly user: string; readonly project: string }>(deps: EvictionDeps<E>, user: string, withVolumes: boolean): Promise<Set<string>> {
  const projects = new Set(deps.environments().filter((e) => e.user === user).map((e) => e.project));
  for (const c of await deps.runtime.listManaged(deps.instance)) if (c.user === user && c.project) projects.add(c.project);
  if (withVolumes) {
    for (const v of await deps.runtime.listVolumes(deps.instance)) {
      const [, owner, p] = v.split(".");
      if (owner === user && p && isPersistentVolumeOf(deps.instance, user, p, v)) projects.add(p);
    }
  }
  return projects;
}

import { InputError } from "../../core/errors.js";
import type { RequestOf, SuccessOf } from "../../core/protocol/control-protocol.js";
import type { StopResult } from "../environments/stop.js";
import type { LiveSessions } from "../live-sessions.js";

export interface StopDeps {
  readonly sessions: Pick<LiveSessions, "endFor">;
  readonly environments: {
    stop(user: string, project: string | null, purge: boolean): Promise<StopResult>;
    projectsOf(user: string, withVolumes: boolean): Promise<Set<string>>;
  };
  /** Whether the key registry has this user. */
  readonly isRegistered: (user: string) => Promise<boolean>;
}

/** What the user reads on stderr (after `podspawn: `) when the admin stops their environment. */
export function stoppedMessage(project: string | null): string {
  return project === null ? "your environment was stopped by the node's admin" : `your ${project} environment was stopped by the node's admin`;
}

/**
 * `podspawn stop USER[@PROJECT] [--purge]`: a user neither registered nor with anything here, or
 * a project they have nothing of, is an error naming it (and nothing is touched). Sessions end
 * first, each with its line, so the user learns why before the container goes.
 */
export async function stopForAdmin(req: RequestOf<"stop">, d: StopDeps): Promise<SuccessOf<"stop">> {
  const { user, project, purge } = req;
  const projects = await d.environments.projectsOf(user, purge);
  if (projects.size === 0 && !(await d.isRegistered(user))) {
    throw new InputError("user", `no pod user named ${JSON.stringify(user)} and nothing of that name on this node`, "a user 'podspawn list' or 'podspawn list-users' shows");
  }
  if (project !== null && !projects.has(project)) {
    const have = projects.size === 0 ? "none: nothing of theirs is on this node" : [...projects].sort().join(", ");
    throw new InputError("project", `${user} has no environment ${JSON.stringify(project)} on this node`, have);
  }
  const sessions = d.sessions.endFor(user, project, stoppedMessage(project));
  const { environments, volumes } = await d.environments.stop(user, project, purge);
  return { ok: true, environments, sessions, volumes };
}

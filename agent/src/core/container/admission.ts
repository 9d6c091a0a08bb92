import { UserFacingError } from "../errors.js";

/**
 * Whether one more login may go ahead on this node: per-user quotas and the node's capacity.
 * Pure; the daemon counts under the user's lock and asks here. A refusal is one line for the
 * user naming the limit, never "internal error".
 */

/** The limits the metrics and the log name (a fixed set). */
export const LIMIT_NAMES = ["sessions-per-user", "environments-per-user", "max-environments", "address-pool"] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** Node capacity, as opposed to one user's quota. */
export function isCapacityLimit(limit: LimitName): boolean {
  return limit === "max-environments" || limit === "address-pool";
}

/** A login refused by a limit: the user sees the message, the admin log gets one `refused` line. */
export class LimitRefusal extends UserFacingError {
  constructor(
    readonly limit: LimitName,
    message: string,
  ) {
    super(limit, message);
  }
}

export interface NodeLimits {
  /** Environments (containers) on the node at once, all users together. */
  readonly maxEnvironments: number;
  /** Distinct projects one user may have alive at once. */
  readonly environmentsPerUser: number;
  /** Concurrent sessions of one user, all projects together. */
  readonly sessionsPerUser: number;
}

export interface LoginFacts {
  readonly project: string;
  /** Projects of the user's environments now (with this one if it exists). */
  readonly userProjects: readonly string[];
  readonly userSessions: number;
  /** Environments on the node, those being created included. */
  readonly nodeEnvironments: number;
}

/** When an environment nobody uses goes, as the user should read it. */
export interface RemovalTiming {
  readonly mode: "grace-period" | "destroy-on-disconnect" | "persistent";
  readonly gracePeriodMs: number;
}

function goesWhen(t: RemovalTiming): string {
  return t.mode === "destroy-on-disconnect" || t.gracePeriodMs === 0 ? "at once" : `after ${Math.ceil(t.gracePeriodMs / 1000)} s`;
}

/** The user's projects, sorted; a long list is cut, so the refusal stays one readable line. */
function listed(projects: readonly string[], max = 10): string {
  const sorted = [...projects].sort();
  return sorted.length <= max ? sorted.join(", ") : `${sorted.slice(0, max).join(", ")} and ${sorted.length - max} more`;
}

const counted = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;

export function nodeFull(environments: number, limit: LimitName = "max-environments"): LimitRefusal {
  return new LimitRefusal(limit, `this node is full (${counted(environments, "environment")}); try again later or ask the admin`);
}

/** The first limit this login would break, or null when it may go ahead. */
export function admitLogin(facts: LoginFacts, limits: NodeLimits, removal: RemovalTiming): LimitRefusal | null {
  if (facts.userSessions >= limits.sessionsPerUser) {
    return new LimitRefusal("sessions-per-user", `you already have ${counted(facts.userSessions, "session")} on this node (limit ${limits.sessionsPerUser}); end one and try again`);
  }
  if (facts.userProjects.includes(facts.project)) return null;
  if (facts.userProjects.length >= limits.environmentsPerUser) {
    return new LimitRefusal(
      "environments-per-user",
      `you already have ${counted(facts.userProjects.length, "environment")} on this node (limit ${limits.environmentsPerUser}): ${listed(facts.userProjects)}; end every session of one and it goes ${goesWhen(removal)}, or ask the admin`,
    );
  }
  if (facts.nodeEnvironments >= limits.maxEnvironments) return nodeFull(facts.nodeEnvironments);
  return null;
}

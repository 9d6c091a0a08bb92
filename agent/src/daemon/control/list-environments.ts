import { containerName } from "../../core/container/container-spec.js";
import type { NodeConfig } from "../../core/config/node-config.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import type { ListedEnvironment } from "../../core/protocol/control-protocol.js";
import { withDeadline } from "../../support/deadline.js";
import type { Environment } from "../environments/environments.js";

export interface ListDeps {
  readonly instance: string;
  readonly environments: () => readonly Environment[];
  readonly runtime: ContainerRuntime;
  readonly config: () => NodeConfig;
  /** How long the engine may take to say which containers run; past it the status is `unknown`. @default 5 s */
  readonly engineTimeoutMs?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function statusOf(env: Environment, running: ReadonlyMap<string, boolean> | null): ListedEnvironment["status"] {
  if (running === null) return "unknown";
  if (running.get(env.containerId) !== true) return "stopped";
  return env.sessions > 0 ? "in-use" : "idle";
}

/** The table's environments, with whether the engine runs each (one list call, bounded). */
export async function listEnvironments(d: ListDeps): Promise<ListedEnvironment[]> {
  const listed = d.runtime.listManaged(d.instance).then((cs) => new Map(cs.map((c) => [c.id, c.running] as const)));
  const running = await withDeadline(
    listed.catch(() => null),
    d.engineTimeoutMs ?? 5000,
    () => null,
  );
  const maxLifetimeMs = d.config().session.maxLifetimeMs;
  return d.environments().map((e) => ({
    user: e.user,
    project: e.project,
    container: containerName(d.instance, e.user, e.project),
    id: e.containerId.slice(0, 12),
    status: statusOf(e, running),
    sessions: e.sessions,
    createdAt: iso(e.createdAt),
    expiresAt: maxLifetimeMs > 0 ? iso(e.createdAt + maxLifetimeMs) : null,
  }));
}

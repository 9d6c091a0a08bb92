import { readFile } from "node:fs/promises";

/**
 * A container's memory cgroup as the kernel keeps it: how many times the OOM killer has killed a
 * process in it, and its limit. This is how the daemon learns that a session's process was
 * OOM-killed: the engine marks only the container's main process (`State.OOMKilled`), never an
 * exec'd one. Read straight from cgroupfs (the daemon is root on the host):
 *   v1  <root>/memory/docker/<id>/memory.oom_control ("oom_kill N"), memory.limit_in_bytes
 *   v2  <root>/docker/<id>/memory.events ("oom_kill N"), memory.max
 * and the `system.slice/docker-<id>.scope` places the systemd cgroup driver uses instead.
 */

export interface MemoryReading {
  readonly oomKills: number;
  /** Null when unlimited. */
  readonly limitBytes: number | null;
}

export interface MemoryCgroup {
  /** Null when no cgroup of that container is found or readable. */
  read(containerId: string): Promise<MemoryReading | null>;
}

const ID = /^[0-9a-f]{64}$/;
/** Above this a v1 limit means "unlimited" (the kernel reports a page-rounded LONG_MAX). */
const V1_UNLIMITED = 2 ** 62;

/** `oom_kill N` from memory.oom_control (v1) or memory.events (v2); null if absent. */
export function parseOomKills(text: string): number | null {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** memory.limit_in_bytes (v1) or memory.max (v2, `max` when unlimited). */
export function parseMemoryLimit(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n >= V1_UNLIMITED ? null : n;
}

interface Layout {
  readonly dir: string;
  readonly counter: string;
  readonly limit: string;
}

function layouts(root: string, id: string): Layout[] {
  const v1 = (dir: string): Layout => ({ dir, counter: "memory.oom_control", limit: "memory.limit_in_bytes" });
  const v2 = (dir: string): Layout => ({ dir, counter: "memory.events", limit: "memory.max" });
  return [v1(`${root}/memory/docker/${id}`), v1(`${root}/memory/system.slice/docker-${id}.scope`), v2(`${root}/docker/${id}`), v2(`${root}/system.slice/docker-${id}.scope`)];
}

const readText = (path: string): Promise<string | null> => readFile(path, "utf8").then((t) => t.slice(0, 4096), () => null);

export function memoryCgroup(root = "/sys/fs/cgroup"): MemoryCgroup {
  return {
    async read(containerId) {
      // The id becomes a path: only a full engine id is ever looked up.
      if (!ID.test(containerId)) return null;
      for (const l of layouts(root, containerId)) {
        const counter = await readText(`${l.dir}/${l.counter}`);
        const oomKills = counter === null ? null : parseOomKills(counter);
        if (oomKills === null) continue;
        const limit = await readText(`${l.dir}/${l.limit}`);
        return { oomKills, limitBytes: limit === null ? null : parseMemoryLimit(limit) };
      }
      return null;
    },
  };
}

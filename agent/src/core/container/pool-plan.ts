/**
 * The pool's decisions, from facts only: which idle container a login claims, which ones no longer
 * match what the config wants (drain), and what to create next without ever going past the node's
 * capacity. daemon/environments/pool.ts does the engine calls around them.
 */

/** An idle, started, unclaimed container in the pool. */
export interface IdlePooled {
  readonly id: string;
  /** Pool template hash (pool-spec.ts). */
  readonly hash: string;
  readonly imageId: string;
}

/** A template the pool keeps containers of: how many, from which image id (null: the image is missing). */
export interface WantedSpec {
  readonly hash: string;
  readonly size: number;
  readonly imageId: string | null;
}

export interface CapacityFacts {
  readonly maxEnvironments: number;
  /** Users' environments, those being made included: they come first. */
  readonly environments: number;
  /** Pooled containers being created now. */
  readonly filling: ReadonlyMap<string, number>;
}

/** The oldest idle container made from exactly this template and image, or null (a miss). */
export function pickPooled(idle: readonly IdlePooled[], hash: string, imageId: string): IdlePooled | null {
  return idle.find((c) => c.hash === hash && c.imageId === imageId) ?? null;
}

/**
 * Idle containers to remove: of a template no longer wanted, from an image the tag no longer
 * names, beyond a template's size, and (newest first, other templates before `keep`) whatever
 * makes users' environments plus the pool exceed the node's capacity.
 */
export function drainPlan(idle: readonly IdlePooled[], wanted: readonly WantedSpec[], cap: CapacityFacts, keep: string | null = null): IdlePooled[] {
  const out: IdlePooled[] = [];
  const kept: IdlePooled[] = [];
  const perHash = new Map<string, number>();
  for (const c of idle) {
    const w = wanted.find((x) => x.hash === c.hash);
    const n = perHash.get(c.hash) ?? 0;
    if (!w || w.imageId !== c.imageId || n >= w.size) {
      out.push(c);
      continue;
    }
    perHash.set(c.hash, n + 1);
    kept.push(c);
  }
  const filling = [...cap.filling.values()].reduce((a, b) => a + b, 0);
  let over = cap.environments + filling + kept.length - cap.maxEnvironments;
  const byPreference = [...kept].reverse().sort((a, b) => Number(a.hash === keep) - Number(b.hash === keep));
  for (const c of byPreference) {
    if (over <= 0) break;
    out.push(c);
    over--;
  }
  return out;
}

/**
 * The template to create one more container of, or null: the one furthest below its size (ties:
 * the order of `wanted`), and only while users' environments plus the whole pool stay under the
 * node's capacity. One at a time: the node has few cores, and logins come first.
 */
export function nextFill(idle: readonly IdlePooled[], wanted: readonly WantedSpec[], cap: CapacityFacts): WantedSpec | null {
  const filling = [...cap.filling.values()].reduce((a, b) => a + b, 0);
  if (cap.environments + filling + idle.length >= cap.maxEnvironments) return null;
  let best: { readonly spec: WantedSpec; readonly missing: number } | null = null;
  for (const w of wanted) {
    if (w.imageId === null) continue;
    const have = idle.filter((c) => c.hash === w.hash && c.imageId === w.imageId).length + (cap.filling.get(w.hash) ?? 0);
    const missing = w.size - have;
    if (missing > 0 && (best === null || missing > best.missing)) best = { spec: w, missing };
  }
  return best?.spec ?? null;
}

/** A template the pool has seen asked for, and when last. */
export interface SeenSpec<T> {
  readonly template: T;
  readonly lastUsedMs: number;
}

/**
 * Which seen templates keep a pool: those asked for within `idleAfterMs` (the default
 * environment's is passed in `always`, so a fresh node is warm before its first login). One per
 * project (its hostname): a project whose spec changed (config, Podfile) keeps only the newest,
 * and one `always` names stands for that project, so the old default spec drains at once.
 */
export function recentSpecs<T extends { readonly hash: string; readonly hostname: string }>(always: readonly T[], seen: readonly SeenSpec<T>[], nowMs: number, idleAfterMs: number): T[] {
  const out = [...always];
  const newestFirst = [...seen].sort((x, y) => y.lastUsedMs - x.lastUsedMs);
  for (const s of newestFirst) {
    if (nowMs - s.lastUsedMs >= idleAfterMs || out.some((t) => t.hash === s.template.hash || t.hostname === s.template.hostname)) continue;
    out.push(s.template);
  }
  return out;
}

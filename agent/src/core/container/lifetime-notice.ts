/**
 * A login into an environment close to its max_lifetime is told so, once, on stderr: the
 * container goes at that moment whatever the sessions are doing. Stderr is safe for scp, sftp and
 * rsync (their protocols run on stdout), so the line is sent with and without a terminal.
 */

/** Below this much time left a new session is warned. */
export const LIFETIME_WARNING_MS = 10 * 60_000;

/** Milliseconds until max_lifetime removes the container, or null when there is no lifetime. */
export function lifetimeLeftMs(createdAtMs: number, maxLifetimeMs: number, nowMs: number): number | null {
  if (maxLifetimeMs <= 0) return null;
  return Math.max(0, createdAtMs + maxLifetimeMs - nowMs);
}

/** The warning (without the `podspawn: ` prefix), or null when more than 10 minutes remain. */
export function lifetimeWarning(leftMs: number | null): string | null {
  if (leftMs === null || leftMs >= LIFETIME_WARNING_MS) return null;
  const minutes = Math.ceil(leftMs / 60_000);
  const when = minutes <= 1 ? "within a minute" : `in ${minutes} min`;
  return `this environment will be removed ${when} (max_lifetime)`;
}

/**
 * The idle timeout: no bytes in either direction for `idleMs`. Activity only stamps a time; a
 * coarse timer compares, so a busy session costs one assignment per chunk. Where bytes bypass the
 * daemon (the direct path) a probe is read at each check instead: a changed value is activity.
 */
export class IdleWatch {
  private last: number;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;
  private seen: string | null;

  constructor(
    idleMs: number,
    onIdle: () => void,
    private readonly now: () => number = Date.now,
    private readonly probe?: () => string | null,
  ) {
    this.last = now();
    this.seen = probe?.() ?? null;
    this.timer = setInterval(() => {
      // The flag, not only clearInterval: a stop from inside the callback must hold even where
      // clearing the running interval does not (node:test's mocked timers in Node 20).
      if (this.stopped) return;
      this.sample();
      if (this.now() - this.last < idleMs) return;
      this.stop();
      onIdle();
    }, idleCheckEvery(idleMs));
    this.timer.unref();
  }

  touch(): void {
    this.last = this.now();
  }

  private sample(): void {
    if (!this.probe) return;
    const value = this.probe();
    if (value !== this.seen) this.touch();
    this.seen = value;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}

/** A quarter of the timeout, within 0.25-30 s: late by at most that much, cheap when long. */
export function idleCheckEvery(idleMs: number): number {
  return Math.min(Math.max(idleMs / 4, 250), 30_000);
}

/** The watch for a configured timeout; none when it is off (0). */
export function watchIdle(idleMs: number, onIdle: () => void, now?: () => number, probe?: () => string | null): IdleWatch | null {
  return idleMs > 0 ? new IdleWatch(idleMs, onIdle, now, probe) : null;
}

/**
 * Flow control between streams, for relays that cannot use pipe() (one source feeds frames into a
 * sink shared with other sources, or one sink is fed by several). Used by the spawn hot path too:
 * Node built-ins only.
 */

/** A source that can be stopped and restarted: a Readable, or a Valve's handle. */
export interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

/** The part of a Writable a DrainGate listens to. */
export interface DrainSource {
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/**
 * Holds sources back while a sink is full. However many writes hit the full sink (every frame
 * decoded from one read, several sources on one sink), it waits for one 'drain' per stall: a
 * listener per write is what printed MaxListenersExceededWarning onto users' stderr. A sink that
 * closes instead of draining lets its sources go too (later writes to it are the caller's to drop).
 */
export class DrainGate {
  private readonly held = new Set<Pausable>();
  private waiting = false;
  private readonly drained = (): void => this.release();

  constructor(private readonly sink: DrainSource) {}

  /** After a write to the sink: when it said full (`ok` false), pause `source` until it drains. */
  afterWrite(ok: boolean, source: Pausable): void {
    if (ok) return;
    if (!this.held.has(source)) {
      this.held.add(source);
      source.pause();
    }
    if (this.waiting) return;
    this.waiting = true;
    this.sink.once("drain", this.drained);
    this.sink.once("close", this.drained);
  }

  get stalled(): boolean {
    return this.waiting;
  }

  /** Stop waiting and resume every held source (on drain, or when the relay is over). */
  release(): void {
    if (this.waiting) {
      this.waiting = false;
      this.sink.off("drain", this.drained);
      this.sink.off("close", this.drained);
    }
    const held = [...this.held];
    this.held.clear();
    for (const source of held) source.resume();
  }
}

/**
 * A source paused while any reason holds it ("the sink is full", "nowhere to put input yet"), so
 * one reason ending cannot resume a source another still holds.
 */
export class Valve {
  private readonly holds = new Set<string>();
  private readonly handles = new Map<string, Pausable>();

  /** `onChange` hears when the source stops (true) and starts again (false). */
  constructor(
    private readonly source: Pausable,
    private readonly onChange: (held: boolean) => void = () => undefined,
  ) {}

  hold(reason: string): void {
    if (this.holds.has(reason)) return;
    this.holds.add(reason);
    if (this.holds.size === 1) {
      this.source.pause();
      this.onChange(true);
    }
  }

  release(reason: string): void {
    if (!this.holds.delete(reason)) return;
    if (this.holds.size === 0) this.opened();
  }

  releaseAll(): void {
    if (this.holds.size === 0) return;
    this.holds.clear();
    this.opened();
  }

  private opened(): void {
    this.source.resume();
    this.onChange(false);
  }

  get held(): boolean {
    return this.holds.size > 0;
  }

  /** The same Pausable for a reason every time, so a DrainGate counts it once. */
  handle(reason: string): Pausable {
    let h = this.handles.get(reason);
    if (!h) {
      h = { pause: () => this.hold(reason), resume: () => this.release(reason) };
      this.handles.set(reason, h);
    }
    return h;
  }
}

/** The part of a Writable that writeParts uses. */
export interface CorkableSink {
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
}

/**
 * Several buffers (a frame header and its payload, say) written corked, so a socket sends them with
 * one writev instead of a syscall each or a copy into one buffer. False when the sink is full.
 */
export function writeParts(sink: CorkableSink, parts: readonly Buffer[]): boolean {
  if (parts.length === 1) return sink.write(parts[0] as Buffer);
  sink.cork();
  let ok = true;
  for (const part of parts) ok = sink.write(part) && ok;
  sink.uncork();
  return ok;
}

import type { EventEmitter } from "node:events";
import { Writable } from "node:stream";

/**
 * The most listeners `emitter` ever had for `event` from now on: a relay that waits once per stall
 * keeps 'drain' at 1 however many writes hit the full sink.
 */
export function listenerPeak(emitter: EventEmitter, event: string): () => number {
  let peak = emitter.listenerCount(event);
  emitter.on("newListener", (name: string | symbol) => {
    if (name === event) peak = Math.max(peak, emitter.listenerCount(event) + 1);
  });
  return () => peak;
}

/**
 * A sink that takes bytes slowly, so writes back up past its small highWaterMark: in "auto" mode
 * each write completes on a later turn of the event loop, in "manual" mode only when the test
 * calls `release()`.
 */
export class SlowSink extends Writable {
  readonly chunks: Buffer[] = [];
  private waiting: Array<() => void> = [];

  constructor(
    private readonly mode: "auto" | "manual",
    highWaterMark = 1024,
  ) {
    super({ highWaterMark });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.mode === "auto") setImmediate(() => done());
    else this.waiting.push(() => done());
  }

  /** Manual mode: complete every write so far (and the ones they let through), until none waits. */
  release(): void {
    while (this.waiting.length > 0) for (const done of this.waiting.splice(0)) done();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Let queued callbacks and I/O run; no clock involved. */
export async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Poll until `cond` holds. Nothing here measures time: the cap only stops a hang (each poll waits
 * at least 1 ms, so it cannot fire before 30 s however fast the machine), because a test that the
 * runner has timed out would otherwise keep polling and its process would never exit.
 */
export async function eventually(cond: () => boolean, what = "the condition"): Promise<void> {
  for (let polls = 0; !cond(); polls++) {
    if (polls >= 30_000) throw new Error(`${what} never came true`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

import type { Duplex } from "node:stream";
import { DrainGate, writeParts, type CorkableSink, type Valve } from "./backpressure.js";

/**
 * Many byte streams carried over one framed link, each under an id. Used by both ends of a relay
 * (the spawn hot path too: Node built-ins only). Backpressure both ways, per stream:
 * - a stream's data goes out through the link's DrainGate: a full link pauses that stream;
 * - data for a stream that is full holds the link's reading (a Valve reason per slot) until that
 *   stream drains, so a slow reader cannot make us buffer without bound.
 * At most `limit` streams at once; `add` says no beyond it, and the caller refuses the connection.
 */
export interface MuxWire {
  /** The frames that carry `chunk` for stream `id`. */
  data(id: number, chunk: Buffer): Buffer[];
  /** The frame that says stream `id` is gone on this side. */
  close(id: number): Buffer;
}

export interface MuxLink {
  readonly sink: CorkableSink & { readonly destroyed: boolean; readonly writableEnded: boolean };
  /** The link's DrainGate, shared with the link's other sources. */
  readonly gate: DrainGate;
  /** Reading the link: held while a stream is full. */
  readonly valve: Valve;
}

interface Entry {
  readonly stream: Duplex;
  readonly slot: number;
  readonly gate: DrainGate;
  /** The far side said it is gone: no close frame goes back. */
  farClosed: boolean;
}

export class MuxedStreams {
  private readonly streams = new Map<number, Entry>();
  private readonly freeSlots: number[];
  private closed = false;

  constructor(
    private readonly link: MuxLink,
    private readonly wire: MuxWire,
    readonly limit: number,
    private readonly onActivity: () => void = () => undefined,
    private readonly reasonPrefix = "mux",
  ) {
    this.freeSlots = Array.from({ length: limit }, (_, i) => limit - 1 - i);
  }

  get size(): number {
    return this.streams.size;
  }

  has(id: number): boolean {
    return this.streams.has(id);
  }

  /** Carry `stream` as `id`; false (and nothing taken) when full, closed or the id is in use. */
  add(id: number, stream: Duplex): boolean {
    const slot = this.freeSlots.pop();
    if (this.closed || slot === undefined || this.streams.has(id)) {
      if (slot !== undefined) this.freeSlots.push(slot);
      return false;
    }
    const entry: Entry = { stream, slot, gate: new DrainGate(stream), farClosed: false };
    this.streams.set(id, entry);
    stream.on("data", (chunk: Buffer) => this.outbound(id, chunk, stream));
    stream.on("error", () => undefined);
    stream.once("close", () => this.gone(id, entry));
    return true;
  }

  /** Data from the far side for stream `id`; dropped when that stream is gone (a crossing close). */
  deliver(id: number, data: Buffer): void {
    const entry = this.streams.get(id);
    if (!entry || entry.stream.writableEnded || entry.stream.destroyed) return;
    this.onActivity();
    entry.gate.afterWrite(entry.stream.write(data), this.link.valve.handle(`${this.reasonPrefix}-${entry.slot}`));
  }

  /** The far side's stream `id` is gone: ours ends once what it was sent is flushed. */
  farClose(id: number): void {
    const entry = this.streams.get(id);
    if (!entry) return;
    entry.farClosed = true;
    entry.stream.end(() => entry.stream.destroy());
  }

  /** Everything ends now (the session is over); no frames are sent. */
  closeAll(): void {
    this.closed = true;
    for (const entry of this.streams.values()) {
      entry.farClosed = true;
      entry.stream.destroy();
    }
  }

  private outbound(id: number, chunk: Buffer, stream: Duplex): void {
    const { sink, gate } = this.link;
    if (this.closed || sink.destroyed || sink.writableEnded) return;
    this.onActivity();
    gate.afterWrite(writeParts(sink, this.wire.data(id, chunk)), stream);
  }

  private gone(id: number, entry: Entry): void {
    if (this.streams.get(id) !== entry) return;
    this.streams.delete(id);
    entry.gate.release();
    // Its data may not hold the link any more.
    this.link.valve.release(`${this.reasonPrefix}-${entry.slot}`);
    this.freeSlots.push(entry.slot);
    const { sink } = this.link;
    if (!entry.farClosed && !this.closed && !sink.destroyed && !sink.writableEnded) sink.write(this.wire.close(id));
  }
}

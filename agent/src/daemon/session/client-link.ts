import type { Socket } from "node:net";
import { dataFrameParts, encodeFrame, FrameType, type FrameTypeValue } from "../../core/protocol/frames.js";
import { DrainGate, Valve, writeParts } from "../../support/backpressure.js";
import type { MuxLink } from "../../support/muxed-streams.js";
import type { ChannelOutput } from "./channel.js";

/** How often a held (paused) client socket is probed for a client that went away. */
export const PROBE_EVERY_MS = 5000;

/**
 * The daemon's end of one spawn connection. Writing: frames to the client, with every channel
 * output paused while the client is slow (one drain wait per stall for all of them). Reading: a
 * valve on the socket, which the session's input closes while it has nowhere to put the bytes.
 */
export class ClientLink {
  readonly valve: Valve;
  private readonly gate: DrainGate;
  /** The same socket, gate and valve, for streams multiplexed over it (the agent channel). */
  readonly mux: MuxLink;
  private probe: NodeJS.Timeout | null = null;

  constructor(
    readonly socket: Socket,
    private readonly probeEveryMs = PROBE_EVERY_MS,
  ) {
    this.valve = new Valve(socket, (held) => (held ? this.startProbe() : this.stopProbe()));
    this.gate = new DrainGate(socket);
    this.mux = { sink: socket, gate: this.gate, valve: this.valve };
  }

  /**
   * A paused socket reads nothing, so not even the client's close: a client that went while we held
   * its input (a container not reading, or not there yet) would hold the session for ever. A small
   * write now and then fails on a closed peer (EPIPE), which closes the socket and ends the session.
   * Only when nothing else is on its way out: a pending write would fail the same way.
   */
  private startProbe(): void {
    this.probe ??= setInterval(() => {
      if (this.writable && this.socket.writableLength === 0) this.socket.write(encodeFrame(FrameType.Ping));
    }, this.probeEveryMs);
    this.probe.unref();
  }

  private stopProbe(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
  }

  /** The client went (or the socket broke), possibly before its 'close' was delivered. */
  get gone(): boolean {
    return this.socket.destroyed;
  }

  private get writable(): boolean {
    return !this.socket.destroyed && !this.socket.writableEnded;
  }

  /** One control frame (INFO, EXIT, ERROR); dropped once the connection is closing. */
  send(type: FrameTypeValue, payload?: Buffer | string): void {
    if (this.writable) this.socket.write(encodeFrame(type, payload));
  }

  /** Relay one output as frames; resolves once the stream has ended (or broke). */
  relay(output: ChannelOutput, onData: () => void): Promise<void> {
    const { frame, stream } = output;
    return new Promise((resolve) => {
      stream.on("data", (chunk: Buffer) => {
        onData();
        if (!this.writable) return;
        this.gate.afterWrite(writeParts(this.socket, dataFrameParts(frame, chunk)), stream);
      });
      stream.once("end", () => resolve());
      stream.once("close", () => resolve());
      stream.once("error", () => resolve());
    });
  }

  /**
   * No more frames from us (after the last one). Held outputs go free to run out into nothing,
   * and reading resumes so the client's close is seen and the socket is freed.
   */
  close(): void {
    if (this.writable) this.socket.end();
    this.gate.release();
    this.valve.releaseAll();
    this.stopProbe();
  }
}

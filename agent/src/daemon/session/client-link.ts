import type { Socket } from "node:net";
import { dataFrameParts, encodeFrame, type FrameTypeValue } from "../../core/protocol/frames.js";
import { DrainGate, Valve, writeParts } from "../../support/backpressure.js";
import type { ChannelOutput } from "./channel.js";

/**
 * The daemon's end of one spawn connection. Writing: frames to the client, with every channel
 * output paused while the client is slow (one drain wait per stall for all of them). Reading: a
 * valve on the socket, which the session's input closes while it has nowhere to put the bytes.
 */
export class ClientLink {
  readonly valve: Valve;
  private readonly gate: DrainGate;

  constructor(readonly socket: Socket) {
    this.valve = new Valve(socket);
    this.gate = new DrainGate(socket);
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
  }
}

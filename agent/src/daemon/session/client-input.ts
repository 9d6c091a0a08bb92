import { describeError, InputError } from "../../core/errors.js";
import { FrameDecoder, FrameType, type Frame } from "../../core/protocol/frames.js";
import { isAgentFrameType } from "../../core/protocol/agent-frames.js";
import { parseResize, parseSignal } from "../../core/protocol/session-request.js";
import { DrainGate, type Pausable, type Valve } from "../../support/backpressure.js";
import type { Channel } from "./channel.js";

/**
 * Input frames that may wait for the channel (they arrive while the container is being created)
 * before the client is told to stop sending. Past it the socket is paused, so the kernel's buffers
 * and the client's own backpressure hold the rest; one read and one frame (at most
 * MAX_FRAME_PAYLOAD) can still land on top.
 */
export const PENDING_INPUT_LIMIT = 64 * 1024;

export interface InputHandlers {
  /** The first HELLO; later ones are ignored. */
  hello(payload: Buffer): void;
  /** A frame that does not parse: the session ends with it. */
  protocolError(err: InputError): void;
  /** Bytes of input: the idle timeout starts over. */
  activity(): void;
  /** An agent frame (they only follow our AgentOpen, so there is a channel by then). */
  agent?(frame: Frame): void;
}

/** Frames from the client: decoded, held back until there is a channel, then dispatched to it. */
export class ClientInput {
  private readonly decoder = new FrameDecoder();
  private pending: Frame[] = [];
  private pendingBytes = 0;
  private channel: Channel | null = null;
  private gate: DrainGate | null = null;
  private readonly full: Pausable;
  private helloSeen = false;
  private stopped = false;

  constructor(
    private readonly valve: Valve,
    private readonly on: InputHandlers,
  ) {
    this.full = valve.handle("channel-full");
  }

  /** Bytes read from the socket. */
  push(chunk: Buffer): void {
    if (this.stopped) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.on.protocolError(new InputError("protocol", describeError(err)));
      return;
    }
    // A read holds the end of one frame and the start of the next: corked, one writev for both.
    const input = this.channel?.input;
    input?.cork();
    try {
      for (const frame of frames) {
        if (this.stopped) return;
        this.take(frame);
      }
    } finally {
      input?.uncork();
    }
  }

  /** The channel exists: what waited goes first, in order, then the socket reads on. */
  attach(channel: Channel): void {
    if (this.stopped) return;
    this.channel = channel;
    this.gate = new DrainGate(channel.input);
    const waiting = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const frame of waiting) if (!this.stopped) this.take(frame);
    this.valve.release("no-channel");
  }

  /** The session is over: nothing more is dispatched, and nothing waits. */
  stop(): void {
    this.stopped = true;
    this.pending = [];
    this.channel = null;
    this.gate?.release();
  }

  private take(frame: Frame): void {
    if (frame.type === FrameType.Hello) {
      if (this.helloSeen) return;
      this.helloSeen = true;
      this.on.hello(frame.payload);
    } else if (isAgentFrameType(frame.type)) {
      try {
        this.on.agent?.(frame);
      } catch (err) {
        this.on.protocolError(new InputError("protocol", describeError(err)));
      }
    } else if (!this.channel) {
      this.holdBack(frame);
    } else {
      try {
        this.deliver(frame, this.channel);
      } catch (err) {
        this.on.protocolError(new InputError("protocol", describeError(err)));
      }
    }
  }

  private holdBack(frame: Frame): void {
    this.pending.push(frame);
    this.pendingBytes += frame.payload.length;
    if (this.pendingBytes <= PENDING_INPUT_LIMIT) return;
    // spawn sends HELLO first. Pausing before one would wait for a HELLO that cannot arrive, and
    // a paused socket does not see its client go: that would hold the connection for ever.
    if (this.helloSeen) this.valve.hold("no-channel");
    else this.on.protocolError(new InputError("protocol", `more than ${PENDING_INPUT_LIMIT} bytes of input before HELLO`));
  }

  private deliver(frame: Frame, channel: Channel): void {
    switch (frame.type) {
      case FrameType.Stdin: {
        this.on.activity();
        const input = channel.input;
        // Input after EOF is the client's mistake; writing it would throw inside the daemon.
        if (input.writableEnded || input.destroyed) return;
        this.gate?.afterWrite(input.write(frame.payload), this.full);
        return;
      }
      case FrameType.StdinEof:
        if (!channel.input.writableEnded) channel.input.end();
        return;
      case FrameType.Resize:
        if (channel.resize) {
          const { cols, rows } = parseResize(JSON.parse(frame.payload.toString("utf8")));
          channel.resize(cols, rows);
        }
        return;
      case FrameType.Signal:
        if (channel.signal) {
          const sig = parseSignal(frame.payload.toString("utf8"));
          if (sig) channel.signal(sig);
        }
        return;
    }
  }
}

import type { Readable, Writable } from "node:stream";
import type { FrameType } from "../../core/protocol/frames.js";
import type { ForwardedSignal } from "../../core/protocol/session-request.js";
import type { SessionKind } from "./session-events.js";

/** What a session logs and audits about its channel when it starts. */
export interface ChannelFacts {
  readonly kind: SessionKind;
  readonly tty: boolean;
  /** The user's command line, for a command session (audit only). */
  readonly command?: string;
  /** The container port, for a tunnel. */
  readonly port?: number;
  /** `direct`: the process has the client's own pipes (daemon/direct-io); else bytes are relayed. */
  readonly stdio?: "direct" | "relay";
}

/** One stream of output for the client, and the frame type it travels in. */
export interface ChannelOutput {
  readonly frame: typeof FrameType.Stdout | typeof FrameType.Stderr;
  readonly stream: Readable;
}

/** How the far end finished: the exit status for the client, and why it broke if it did. */
export interface ChannelEnd {
  readonly code: number;
  readonly broken?: string;
  /** A line the user must read about how it ended (OOM kill, engine gone), without the prefix. */
  readonly notice?: string;
}

/**
 * The far end of a session: a process in the container (exec-channel.ts), a TCP connection into
 * it (tunnel-channel.ts); an agent relay or an inner sshd would be files of their own beside them.
 * The session owns everything around it (client frames, idle, the environment, the end).
 *
 * Backpressure is part of the contract, in both directions:
 * - `input.write()` returning false means the far end is full: the session stops reading the
 *   client until `input` emits 'drain' (or closes), one wait per stall;
 * - every output honours pause()/resume(): the session pauses it while the client is slow.
 */
export interface Channel {
  readonly facts: ChannelFacts;
  /** Where the client's input goes; end() is the client's EOF. */
  readonly input: Writable;
  readonly outputs: readonly ChannelOutput[];
  /** Absent where a terminal size means nothing (a TCP connection). */
  resize?(cols: number, rows: number): void;
  /** Absent where a signal means nothing. */
  signal?(signal: ForwardedSignal): void;
  /**
   * Settles once the far end is done. The session then waits for every output to end before it
   * sends the exit status, so nothing the far end wrote is lost. Rejects only on a bug.
   */
  readonly finished: Promise<ChannelEnd>;
  /** The session ended for another reason (client gone, idle, an error): stop the far end. */
  hangUp(): void;
  /**
   * Where bytes bypass the session (the direct path): a value that changes whenever bytes move,
   * read by the idle timeout instead of the relay's own activity. Absent: the relay tells.
   */
  activity?(): string | null;
}

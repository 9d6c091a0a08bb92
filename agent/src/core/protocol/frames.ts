/**
 * The spawn <-> daemon wire format: `type (u8) | length (u32 BE) | payload`. Binary frames keep the
 * spawn client free of any parser (it is on the hot path of every login) and carry stdout/stderr as
 * separate streams without base64.
 */
export const FrameType = {
  // client -> daemon
  Hello: 0x01,
  Stdin: 0x02,
  StdinEof: 0x03,
  Resize: 0x04,
  Signal: 0x05,
  // daemon -> client
  Stdout: 0x11,
  Stderr: 0x12,
  Exit: 0x13,
  Error: 0x14,
  Info: 0x15,
  /**
   * Empty, ignored by the client. Sent while the daemon is not reading the client (nowhere to put
   * its input): a write is how a client that went away meanwhile is noticed.
   */
  Ping: 0x16,
  /**
   * One line the user sees on stderr with or without a terminal (an image build: minutes of
   * silence otherwise). Unlike INFO, scripts get it too: on stderr it cannot corrupt a protocol.
   */
  Progress: 0x17,
  /**
   * Sent once, before the session runs, to a client that offered its pipes (HELLO `stdio`):
   * `direct` (the process in the container has the client's stdin, stdout and stderr; the client
   * must never read its stdin nor write its stdout) or `relay` (the usual STDIN/STDOUT frames).
   * Such a client reads no stdin until this frame has come (docs/architecture.md).
   */
  StdioMode: 0x18,
  // either way: one ssh-agent connection relayed over the session (agent-frames.ts)
  /** daemon -> client: a process in the container connected to the session's agent socket. */
  AgentOpen: 0x21,
  AgentData: 0x22,
  AgentClose: 0x23,
} as const;

export const STDIO_DIRECT = "direct";
export const STDIO_RELAY = "relay";
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

export const MAX_FRAME_PAYLOAD = 1 << 20;
export const FRAME_HEADER_BYTES = 5;
/**
 * Agent frames carry a channel id and at most this much data: the agent protocol's messages are
 * small (OpenSSH caps one at 256 KiB), and a small bound keeps what one frame can make us hold small.
 */
export const MAX_AGENT_FRAME_PAYLOAD = 4 + 64 * 1024;
const AGENT_FRAMES: ReadonlySet<number> = new Set([FrameType.AgentOpen, FrameType.AgentData, FrameType.AgentClose]);

/** The largest payload a frame of this type may have. */
export function maxPayloadOf(type: number): number {
  return AGENT_FRAMES.has(type) ? MAX_AGENT_FRAME_PAYLOAD : MAX_FRAME_PAYLOAD;
}

/** Byte streams: their frames may be taken apart (and are, by the decoder) without changing them. */
const STREAMED: ReadonlySet<number> = new Set([FrameType.Stdin, FrameType.Stdout, FrameType.Stderr]);

export interface Frame {
  readonly type: number;
  readonly payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function frameHeader(type: FrameTypeValue, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw new Error(`frame payload of ${length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(length, 1);
  return header;
}

/** One frame in one buffer: for control frames (small). Data goes through dataFrameParts. */
export function encodeFrame(type: FrameTypeValue, payload: Buffer | string = EMPTY): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  return Buffer.concat([frameHeader(type, body.length), body]);
}

/**
 * Data of any size as frames no larger than the limit, as [header, payload, header, payload...]:
 * the payloads are views of `data`, never copies. Write them corked so they leave in one writev.
 */
export function dataFrameParts(type: FrameTypeValue, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += MAX_FRAME_PAYLOAD) {
    const piece = data.subarray(off, off + MAX_FRAME_PAYLOAD);
    out.push(frameHeader(type, piece.length), piece);
  }
  return out;
}

/**
 * Incremental decoder: feed it chunks as they arrive, get frames back. A data frame (stdin, stdout,
 * stderr) comes back in pieces as its bytes arrive, each a view of the chunk it came in (no copy,
 * nothing held); every other frame comes back whole, copied once if it spanned chunks. So the work
 * is linear in the bytes whatever the frame and chunk sizes.
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** The frame being read: its type, and how many payload bytes are still to come (-1: none). */
  private type = 0;
  private remaining = -1;
  private parts: Buffer[] = [];
  private partsBytes = 0;

  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.remaining < 0) {
        off = this.readHeader(chunk, off);
        if (this.remaining < 0) break;
        if (this.remaining === 0) {
          this.remaining = -1;
          out.push({ type: this.type, payload: EMPTY });
          continue;
        }
      }
      const take = Math.min(this.remaining, chunk.length - off);
      const piece = chunk.subarray(off, off + take);
      off += take;
      this.remaining -= take;
      const frame = this.take(piece);
      if (frame) out.push(frame);
      if (this.remaining === 0) this.remaining = -1;
    }
    return out;
  }

  /** Bytes held back: a partial header, and the part of a control frame received so far. */
  get pending(): number {
    return this.headerFill + this.partsBytes;
  }

  private readHeader(chunk: Buffer, off: number): number {
    let type: number;
    let length: number;
    if (this.headerFill === 0 && chunk.length - off >= FRAME_HEADER_BYTES) {
      type = chunk.readUInt8(off);
      length = chunk.readUInt32BE(off + 1);
      off += FRAME_HEADER_BYTES;
    } else {
      const n = chunk.copy(this.header, this.headerFill, off, off + FRAME_HEADER_BYTES - this.headerFill);
      this.headerFill += n;
      off += n;
      if (this.headerFill < FRAME_HEADER_BYTES) return off;
      this.headerFill = 0;
      type = this.header.readUInt8(0);
      length = this.header.readUInt32BE(1);
    }
    const max = maxPayloadOf(type);
    if (length > max) throw new Error(`frame of ${length} bytes exceeds ${max}`);
    this.type = type;
    this.remaining = length;
    return off;
  }

  private take(piece: Buffer): Frame | null {
    if (STREAMED.has(this.type)) return { type: this.type, payload: piece };
    if (this.remaining > 0) {
      this.parts.push(piece);
      this.partsBytes += piece.length;
      return null;
    }
    const payload = this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece], this.partsBytes + piece.length);
    this.parts = [];
    this.partsBytes = 0;
    return { type: this.type, payload };
  }
}

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
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

export const MAX_FRAME_PAYLOAD = 1 << 20;
const HEADER = 5;

export interface Frame {
  readonly type: number;
  readonly payload: Buffer;
}

export function encodeFrame(type: FrameTypeValue, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  if (body.length > MAX_FRAME_PAYLOAD) throw new Error(`frame payload of ${body.length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** Encode data of any size, split into frames no larger than the limit. */
export function encodeData(type: FrameTypeValue, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += MAX_FRAME_PAYLOAD) out.push(encodeFrame(type, data.subarray(off, off + MAX_FRAME_PAYLOAD)));
  return out;
}

/** Incremental decoder: feed it chunks as they arrive, get whole frames back. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    while (this.buf.length >= HEADER) {
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_FRAME_PAYLOAD) throw new Error(`frame of ${len} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
      if (this.buf.length < HEADER + len) break;
      frames.push({ type: this.buf.readUInt8(0), payload: this.buf.subarray(HEADER, HEADER + len) });
      this.buf = this.buf.subarray(HEADER + len);
    }
    return frames;
  }

  get pending(): number {
    return this.buf.length;
  }
}

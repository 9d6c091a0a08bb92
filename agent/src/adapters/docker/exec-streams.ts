import { Readable } from "node:stream";
import { Valve } from "../../support/backpressure.js";

/**
 * The engine's attach stream of a non-TTY exec multiplexes stdout and stderr: frames of an 8-byte
 * header `[stream u8, 0, 0, 0, length u32 BE]` and the payload. Stream 1 is stdout and 2 stderr;
 * 0 (stdin) is written on stdout, as the engine's own client does. The engine sends nothing else on
 * an exec stream, so anything else means the stream is not what we think: a protocol error.
 */
export const MUX_HEADER_BYTES = 8;

export type MuxStream = "stdout" | "stderr";

/**
 * Pure decoder of the multiplexed stream. Payload comes out in pieces as it arrives, each a view
 * of the chunk it came in: no copy, nothing held but a partial header, so a frame of any size
 * costs no memory here.
 */
export class MuxDecoder {
  private readonly header = Buffer.alloc(MUX_HEADER_BYTES);
  private headerFill = 0;
  private stream: MuxStream = "stdout";
  private remaining = 0;

  push(chunk: Buffer, emit: (stream: MuxStream, piece: Buffer) => void): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.remaining === 0) {
        off = this.readHeader(chunk, off);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - off);
      this.remaining -= take;
      emit(this.stream, chunk.subarray(off, off + take));
      off += take;
    }
  }

  private readHeader(chunk: Buffer, off: number): number {
    let type: number;
    let length: number;
    if (this.headerFill === 0 && chunk.length - off >= MUX_HEADER_BYTES) {
      type = chunk.readUInt8(off);
      length = chunk.readUInt32BE(off + 4);
      off += MUX_HEADER_BYTES;
    } else {
      const n = chunk.copy(this.header, this.headerFill, off, off + MUX_HEADER_BYTES - this.headerFill);
      this.headerFill += n;
      off += n;
      if (this.headerFill < MUX_HEADER_BYTES) return off;
      this.headerFill = 0;
      type = this.header.readUInt8(0);
      length = this.header.readUInt32BE(4);
    }
    if (type > 2) throw new Error(`engine attach stream: unexpected stream type ${type}`);
    this.stream = type === 2 ? "stderr" : "stdout";
    this.remaining = length;
    return off;
  }
}

/**
 * How much output waits in each stream before the engine's connection is paused: about one read.
 * Past it the kernel's socket buffers fill, then the engine's, then the process blocks on write.
 */
export const OUTPUT_HIGH_WATER = 64 * 1024;

class OutputStream extends Readable {
  constructor(private readonly wanted: () => void) {
    super({ highWaterMark: OUTPUT_HIGH_WATER });
  }

  override _read(): void {
    this.wanted();
  }
}

export interface ExecOutputs {
  readonly stdout: Readable;
  /** Ends at once for a TTY exec (the terminal merges stderr into stdout). */
  readonly stderr: Readable;
}

/**
 * The engine's attach connection as two Readables with backpressure all the way back: when either
 * has more than OUTPUT_HIGH_WATER unread, the connection itself is paused until that one is read
 * again. (The library's demuxStream writes into pass-through streams and ignores their answer, so
 * a slow reader grew the daemon without bound.) With a TTY the stream is raw, all of it stdout.
 */
export function execOutputs(source: Readable, tty: boolean): ExecOutputs {
  const valve = new Valve(source);
  const stdout = new OutputStream(() => valve.release("stdout"));
  const stderr = new OutputStream(() => valve.release("stderr"));
  const outputs = { stdout, stderr };
  const deliver = (stream: MuxStream, piece: Buffer): void => {
    const out = outputs[stream];
    // A consumer that destroyed its stream wants nothing more: drop, never hold the others for it.
    if (!out.destroyed && !out.push(piece)) valve.hold(stream);
  };
  const decoder = tty ? null : new MuxDecoder();
  if (tty) stderr.push(null);
  source.on("data", (chunk: Buffer) => {
    if (!decoder) return deliver("stdout", chunk);
    try {
      decoder.push(chunk, deliver);
    } catch (err) {
      source.destroy(err as Error);
    }
  });
  let ended = false;
  const end = (err?: Error): void => {
    if (ended) return;
    ended = true;
    for (const out of tty ? [stdout] : [stdout, stderr]) {
      if (err) out.destroy(err);
      else out.push(null);
    }
  };
  source.once("end", () => end());
  source.once("close", () => end());
  source.once("error", (err: Error) => end(err));
  return outputs;
}

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dataFrameParts, encodeFrame, FrameDecoder, FrameType, MAX_FRAME_PAYLOAD, type FrameTypeValue } from "../../agent/src/core/protocol/frames.js";

const frameTypes = Object.values(FrameType) as FrameTypeValue[];
const arbFrame = fc.record({
  type: fc.constantFrom(...frameTypes),
  payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
});

/** Split a buffer at the given (sorted, deduplicated) cut points. */
function chunk(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

describe("encodeFrame", () => {
  it("writes a 5-byte header of type and big-endian length before the payload", () => {
    const f = encodeFrame(FrameType.Stdout, Buffer.from("hi"));
    assert.deepEqual([...f], [0x11, 0, 0, 0, 2, 0x68, 0x69]);
  });

  it("encodes a string payload as UTF-8", () => {
    const f = encodeFrame(FrameType.Info, "é");
    assert.equal(f.readUInt32BE(1), 2);
    assert.equal(f.subarray(5).toString("utf8"), "é");
  });

  it("encodes an empty frame when no payload is given", () => {
    const f = encodeFrame(FrameType.StdinEof);
    assert.deepEqual([...f], [0x03, 0, 0, 0, 0]);
  });

  it("accepts a payload of exactly the frame limit", () => {
    const f = encodeFrame(FrameType.Stdout, Buffer.alloc(MAX_FRAME_PAYLOAD));
    assert.equal(f.length, MAX_FRAME_PAYLOAD + 5);
  });

  it("refuses a payload one byte over the frame limit", () => {
    assert.throws(() => encodeFrame(FrameType.Stdout, Buffer.alloc(MAX_FRAME_PAYLOAD + 1)), /exceeds/);
  });
});

describe("dataFrameParts", () => {
  it("returns no parts for empty data", () => {
    assert.deepEqual(dataFrameParts(FrameType.Stdout, Buffer.alloc(0)), []);
  });

  it("gives a header and a view of the data (not a copy) for data up to the frame limit", () => {
    const data = Buffer.alloc(MAX_FRAME_PAYLOAD, 7);
    const parts = dataFrameParts(FrameType.Stdout, data);
    assert.equal(parts.length, 2);
    assert.deepEqual([...(parts[0] ?? [])], [0x11, 0, 0x10, 0, 0]);
    assert.equal(parts[1]?.buffer, data.buffer, "the payload shares the data's memory");
  });

  it("splits data larger than the frame limit into frames that decode back to the data", () => {
    const data = Buffer.alloc(2 * MAX_FRAME_PAYLOAD + 10);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    const parts = dataFrameParts(FrameType.Stderr, data);
    assert.equal(parts.length, 6);
    assert.deepEqual(
      parts.filter((_, i) => i % 2 === 0).map((h) => h.readUInt32BE(1)),
      [MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD, 10],
    );
    const decoded = new FrameDecoder().push(Buffer.concat(parts));
    assert.ok(decoded.every((f) => f.type === FrameType.Stderr));
    assert.ok(Buffer.concat(decoded.map((f) => f.payload)).equals(data));
  });
});

const STREAMED = new Set<number>([FrameType.Stdin, FrameType.Stdout, FrameType.Stderr]);

/** Data frames of one type in a row, merged: what the byte streams carry, boundaries aside. */
function merged(frames: readonly { type: number; payload: Buffer }[]): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const f of frames) {
    const last = out[out.length - 1];
    if (last && STREAMED.has(f.type) && last[0] === f.type) last[1] += f.payload.toString("hex");
    else out.push([f.type, f.payload.toString("hex")]);
  }
  return out;
}

describe("FrameDecoder", () => {
  it("decodes any sequence of frames, chunked at arbitrary boundaries: control frames whole, data as the same bytes", () => {
    fc.assert(
      fc.property(fc.array(arbFrame, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.payload)));
        const dec = new FrameDecoder();
        const got = chunk(wire, cuts).flatMap((c) => dec.push(c));
        const control = (fs: readonly { type: number }[]) => fs.filter((f) => !STREAMED.has(f.type));
        assert.deepEqual(control(got), control(frames).map((f) => ({ ...f })));
        // A data frame may come in pieces but never merged with its neighbour of another frame type.
        assert.deepEqual(merged(got.filter((f) => !STREAMED.has(f.type) || f.payload.length > 0)), merged(frames.filter((f) => !STREAMED.has(f.type) || f.payload.length > 0)));
        assert.equal(dec.pending, 0);
      }),
    );
  });

  it("hands out data as views of the chunks it arrived in: no copy, nothing held back", () => {
    const data = Buffer.alloc(3 * 64 * 1024 + 17, 0x5a);
    const wire = Buffer.concat([encodeFrame(FrameType.Stdout, data), encodeFrame(FrameType.Stdin, data)]);
    const dec = new FrameDecoder();
    for (const c of chunk(wire, [1000, 65536, 70000, 140000, 200000, 200003, 300000])) {
      for (const f of dec.push(c)) assert.equal(f.payload.buffer, c.buffer, "a piece is a view of its own chunk");
      assert.ok(dec.pending < 5, "at most a partial header waits");
    }
  });

  it("copies a control frame that spans many chunks once, not once per chunk (linear, not quadratic)", (t) => {
    const payload = Buffer.alloc(MAX_FRAME_PAYLOAD, 0x41);
    const wire = encodeFrame(FrameType.Hello, payload);
    let copied = 0;
    const concat = Buffer.concat.bind(Buffer);
    t.mock.method(Buffer, "concat", (list: readonly Uint8Array[], total?: number) => {
      const out = concat(list, total);
      copied += out.length;
      return out;
    });
    const dec = new FrameDecoder();
    const got = [];
    for (let off = 0; off < wire.length; off += 64 * 1024) got.push(...dec.push(wire.subarray(off, off + 64 * 1024)));
    t.mock.restoreAll();
    assert.equal(got.length, 1);
    assert.ok(got[0]?.payload.equals(payload));
    assert.equal(copied, MAX_FRAME_PAYLOAD, "each byte of the frame copied once");
  });

  it("decodes frames fed one byte at a time", () => {
    const wire = Buffer.concat([encodeFrame(FrameType.Hello, "{}"), encodeFrame(FrameType.Exit, Buffer.from([0, 0, 0, 3]))]);
    const dec = new FrameDecoder();
    const got = [...wire].flatMap((b) => dec.push(Buffer.from([b])));
    assert.deepEqual(
      got.map((f) => [f.type, [...f.payload]]),
      [
        [FrameType.Hello, [0x7b, 0x7d]],
        [FrameType.Exit, [0, 0, 0, 3]],
      ],
    );
  });

  it("holds a partial header and a partial control frame as pending, and gives data at once", () => {
    const dec = new FrameDecoder();
    assert.equal(dec.pending, 0);
    const hello = encodeFrame(FrameType.Hello, "hello");
    assert.deepEqual(dec.push(hello.subarray(0, 3)), []);
    assert.equal(dec.pending, 3);
    assert.deepEqual(dec.push(hello.subarray(3, 7)), []);
    assert.equal(dec.pending, 2);
    assert.equal(dec.push(hello.subarray(7)).length, 1);
    assert.equal(dec.pending, 0);
    const data = dec.push(encodeFrame(FrameType.Stdin, "hello").subarray(0, 7));
    assert.deepEqual(data.map((f) => f.payload.toString()), ["he"]);
    assert.equal(dec.pending, 0);
  });

  it("keeps the start of the next header pending after returning a whole frame", () => {
    const dec = new FrameDecoder();
    const a = encodeFrame(FrameType.Exit, "a");
    const b = encodeFrame(FrameType.Exit, "bcd");
    const frames = dec.push(Buffer.concat([a, b.subarray(0, 4)]));
    assert.equal(frames.length, 1);
    assert.equal(dec.pending, 4);
  });

  it("refuses a header announcing a payload over the limit without waiting for the payload", () => {
    const header = Buffer.alloc(5);
    header.writeUInt8(FrameType.Stdin, 0);
    header.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 1);
    assert.throws(() => new FrameDecoder().push(header), /exceeds/);
  });

  it("accepts a header announcing exactly the limit and waits for the payload", () => {
    const header = Buffer.alloc(5);
    header.writeUInt8(FrameType.Hello, 0);
    header.writeUInt32BE(MAX_FRAME_PAYLOAD, 1);
    const dec = new FrameDecoder();
    assert.deepEqual(dec.push(header), []);
    assert.equal(dec.pending, 0);
    assert.deepEqual(dec.push(Buffer.alloc(10)), []);
    assert.equal(dec.pending, 10);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeData, encodeFrame, FrameDecoder, FrameType, MAX_FRAME_PAYLOAD, type FrameTypeValue } from "../../agent/src/core/protocol/frames.js";

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

describe("encodeData", () => {
  it("returns no frames for empty data", () => {
    assert.deepEqual(encodeData(FrameType.Stdout, Buffer.alloc(0)), []);
  });

  it("keeps data up to the frame limit in one frame", () => {
    const frames = encodeData(FrameType.Stdout, Buffer.alloc(MAX_FRAME_PAYLOAD, 7));
    assert.equal(frames.length, 1);
  });

  it("splits data larger than the frame limit into several frames that concatenate to the data", () => {
    const data = Buffer.alloc(2 * MAX_FRAME_PAYLOAD + 10);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    const frames = encodeData(FrameType.Stderr, data);
    assert.equal(frames.length, 3);
    const decoded = new FrameDecoder().push(Buffer.concat(frames));
    assert.deepEqual(
      decoded.map((f) => f.payload.length),
      [MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD, 10],
    );
    assert.ok(decoded.every((f) => f.type === FrameType.Stderr));
    assert.ok(Buffer.concat(decoded.map((f) => f.payload)).equals(data));
  });
});

describe("FrameDecoder", () => {
  it("decodes any sequence of frames, chunked at arbitrary boundaries, to the same frames", () => {
    fc.assert(
      fc.property(fc.array(arbFrame, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.payload)));
        const dec = new FrameDecoder();
        const got = chunk(wire, cuts).flatMap((c) => dec.push(c));
        assert.equal(got.length, frames.length);
        got.forEach((g, i) => {
          assert.equal(g.type, frames[i]?.type);
          assert.ok(g.payload.equals(frames[i]?.payload ?? Buffer.alloc(1)));
        });
        assert.equal(dec.pending, 0);
      }),
    );
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

  it("reports buffered bytes of an incomplete frame as pending", () => {
    const dec = new FrameDecoder();
    assert.equal(dec.pending, 0);
    const wire = encodeFrame(FrameType.Stdin, "hello");
    assert.deepEqual(dec.push(wire.subarray(0, 3)), []);
    assert.equal(dec.pending, 3);
    assert.deepEqual(dec.push(wire.subarray(3, 7)), []);
    assert.equal(dec.pending, 7);
    const frames = dec.push(wire.subarray(7));
    assert.equal(frames.length, 1);
    assert.equal(dec.pending, 0);
  });

  it("keeps the start of the next frame pending after returning a whole one", () => {
    const dec = new FrameDecoder();
    const a = encodeFrame(FrameType.Stdout, "a");
    const b = encodeFrame(FrameType.Stdout, "bcd");
    const frames = dec.push(Buffer.concat([a, b.subarray(0, 6)]));
    assert.equal(frames.length, 1);
    assert.equal(dec.pending, 6);
  });

  it("refuses a header announcing a payload over the limit without waiting for the payload", () => {
    const header = Buffer.alloc(5);
    header.writeUInt8(FrameType.Stdin, 0);
    header.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 1);
    assert.throws(() => new FrameDecoder().push(header), /exceeds/);
  });

  it("accepts a header announcing exactly the limit and waits for the payload", () => {
    const header = Buffer.alloc(5);
    header.writeUInt8(FrameType.Stdin, 0);
    header.writeUInt32BE(MAX_FRAME_PAYLOAD, 1);
    const dec = new FrameDecoder();
    assert.deepEqual(dec.push(header), []);
    assert.equal(dec.pending, 5);
  });
});

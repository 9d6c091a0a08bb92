import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { execOutputs, MuxDecoder, OUTPUT_HIGH_WATER, type MuxStream } from "../../agent/src/adapters/docker/exec-streams.js";
import { turns } from "./helpers/slow-streams.js";

/** One frame of the engine's multiplexed stream, as the engine writes it. */
function muxFrame(stream: 0 | 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt8(stream, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function cutAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
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

/** Consecutive pieces of one stream merged: the interleaving a reader of both streams sees. */
function runs(pieces: ReadonlyArray<readonly [MuxStream, Buffer]>): Array<[MuxStream, string]> {
  const out: Array<[MuxStream, string]> = [];
  for (const [stream, piece] of pieces) {
    if (piece.length === 0) continue;
    const last = out[out.length - 1];
    if (last && last[0] === stream) last[1] += piece.toString("hex");
    else out.push([stream, piece.toString("hex")]);
  }
  return out;
}

const arbMux = fc.array(fc.record({ stream: fc.constantFrom(0 as const, 1 as const, 2 as const), payload: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) }), { maxLength: 25 });

describe("MuxDecoder (the engine's multiplexed exec stream)", () => {
  it("gives the same stdout and stderr bytes in the same interleaving, however the stream is cut", () => {
    fc.assert(
      fc.property(arbMux, fc.array(fc.nat(), { maxLength: 40 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => muxFrame(f.stream, f.payload)));
        const got: Array<[MuxStream, Buffer]> = [];
        const dec = new MuxDecoder();
        for (const c of cutAt(wire, cuts)) dec.push(c, (s, p) => got.push([s, p]));
        const expected = frames.map((f): [MuxStream, Buffer] => [f.stream === 2 ? "stderr" : "stdout", f.payload]);
        assert.deepEqual(runs(got), runs(expected));
      }),
    );
  });

  it("hands out payload as views of the chunk it arrived in, without copying", () => {
    const wire = Buffer.concat([muxFrame(1, Buffer.alloc(100_000, 1)), muxFrame(2, Buffer.alloc(50, 2))]);
    const dec = new MuxDecoder();
    for (const c of cutAt(wire, [3, 65536, 100_004, 100_010])) dec.push(c, (_s, p) => assert.equal(p.buffer, c.buffer));
  });

  it("refuses stream type 3 and above, even with the header cut in two", () => {
    const bad = muxFrame(1, Buffer.from("x"));
    bad.writeUInt8(3, 0);
    const dec = new MuxDecoder();
    dec.push(bad.subarray(0, 2), () => undefined);
    assert.throws(() => dec.push(bad.subarray(2), () => undefined), /unexpected stream type 3/);
  });
});

/** Writes `total` bytes of frames into `source` as a producer that honours write()'s answer does. */
async function produce(source: PassThrough, frame: Buffer, total: number): Promise<{ written: () => number; done: Promise<void> }> {
  let written = 0;
  const done = (async () => {
    while (written < total) {
      written += frame.length;
      if (!source.write(frame)) await new Promise((r) => source.once("drain", r));
    }
    source.end();
  })();
  return { written: () => written, done };
}

describe("execOutputs (backpressure from the reader to the engine's connection)", () => {
  const frame = muxFrame(1, Buffer.alloc(32 * 1024, 7));

  it("pauses the engine's connection while stdout is not read, so the producer stops", async () => {
    const source = new PassThrough();
    const { stdout, stderr } = execOutputs(source, false);
    stderr.resume();
    const p = await produce(source, frame, 64 * 1024 * 1024);
    await turns(200);
    assert.equal(source.isPaused(), true, "the connection is paused");
    assert.ok(stdout.readableLength <= OUTPUT_HIGH_WATER + frame.length, `${stdout.readableLength} bytes wait in stdout`);
    assert.ok(p.written() <= 1024 * 1024, `the producer got ${p.written()} bytes out before it was stopped`);
    let got = 0;
    stdout.on("data", (c: Buffer) => (got += c.length));
    await p.done;
    await new Promise((r) => stdout.once("end", r));
    assert.equal(got, Math.ceil((64 * 1024 * 1024) / frame.length) * 32 * 1024, "every payload byte, once");
  });

  it("holds stdout back too while only stderr is full: one connection carries both", async () => {
    const source = new PassThrough();
    const { stdout } = execOutputs(source, false);
    stdout.resume();
    const p = await produce(source, muxFrame(2, Buffer.alloc(32 * 1024)), 8 * 1024 * 1024);
    await turns(200);
    assert.equal(source.isPaused(), true);
    assert.ok(p.written() <= 1024 * 1024);
  });

  it("resumes once the reader takes what waited, and only then", async () => {
    const source = new PassThrough();
    const { stdout, stderr } = execOutputs(source, false);
    stderr.resume();
    source.write(Buffer.concat(Array.from({ length: 4 }, () => frame)));
    await turns();
    assert.equal(source.isPaused(), true);
    stdout.read();
    await turns();
    assert.equal(source.isPaused(), false);
  });

  it("passes a TTY's raw stream to stdout with the same backpressure, and ends stderr at once", async () => {
    const source = new PassThrough();
    const { stdout, stderr } = execOutputs(source, true);
    const stderrEnded = new Promise((r) => stderr.once("end", r));
    stderr.resume();
    await stderrEnded;
    const raw = Buffer.alloc(32 * 1024, 1);
    raw.writeUInt8(2, 0); // would be a stderr header if it were demultiplexed
    const p = await produce(source, raw, 16 * 1024 * 1024);
    await turns(200);
    assert.equal(source.isPaused(), true);
    assert.ok(p.written() <= 1024 * 1024);
    const chunks: Buffer[] = [];
    stdout.on("data", (c: Buffer) => chunks.push(c));
    await p.done;
    await new Promise((r) => stdout.once("end", r));
    assert.equal(Buffer.concat(chunks).length, 16 * 1024 * 1024);
    assert.equal(chunks[0]?.[0], 2, "the raw bytes, header-looking or not");
  });

  it("ends both streams when the connection ends", async () => {
    const source = new PassThrough();
    const { stdout, stderr } = execOutputs(source, false);
    const text = { out: "", err: "" };
    stdout.on("data", (c: Buffer) => (text.out += c.toString()));
    stderr.on("data", (c: Buffer) => (text.err += c.toString()));
    source.end(Buffer.concat([muxFrame(1, Buffer.from("out")), muxFrame(2, Buffer.from("err")), muxFrame(0, Buffer.from("!"))]));
    await Promise.all([new Promise((r) => stdout.once("end", r)), new Promise((r) => stderr.once("end", r))]);
    assert.deepEqual(text, { out: "out!", err: "err" });
  });

  it("fails both streams when the connection carries something that is not the multiplexed format", async () => {
    const source = new PassThrough();
    const { stdout, stderr } = execOutputs(source, false);
    const failed = Promise.all([stdout, stderr].map((s) => new Promise<Error>((r) => s.once("error", r))));
    source.write(Buffer.from([9, 0, 0, 0, 0, 0, 0, 1, 0x41]));
    const errors = await failed;
    assert.match(errors[0]?.message ?? "", /unexpected stream type 9/);
    assert.equal(source.destroyed, true);
  });

  it("does not hold the connection for a stream its reader destroyed", async () => {
    const source = new PassThrough();
    const { stdout, stderr } = execOutputs(source, false);
    stdout.resume();
    stderr.destroy();
    const p = await produce(source, Buffer.concat([muxFrame(2, Buffer.alloc(16 * 1024)), muxFrame(1, Buffer.alloc(16 * 1024))]), 4 * 1024 * 1024);
    await p.done;
    assert.equal(source.isPaused(), false);
  });
});

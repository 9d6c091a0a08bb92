import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Writable } from "node:stream";
import { encodeFrame, FrameDecoder, FrameType, type Frame } from "../../agent/src/core/protocol/frames.js";
import { InputError } from "../../agent/src/core/errors.js";
import { Valve } from "../../agent/src/support/backpressure.js";
import type { Channel } from "../../agent/src/daemon/session/channel.js";
import { ClientInput, PENDING_INPUT_LIMIT } from "../../agent/src/daemon/session/client-input.js";
import { ClientLink } from "../../agent/src/daemon/session/client-link.js";
import { eventually, listenerPeak, SlowSink, turns } from "./helpers/slow-streams.js";

/** A channel whose far end is just its input stream: what ClientInput dispatches to. */
function channelOf(input: Writable, withControls = true): Channel & { resized: [number, number][]; signalled: string[] } {
  const resized: [number, number][] = [];
  const signalled: string[] = [];
  const base = { facts: { kind: "command" as const, tty: false }, input, outputs: [], finished: new Promise<never>(() => undefined), hangUp: () => undefined, resized, signalled };
  return withControls ? { ...base, resize: (c: number, r: number) => void resized.push([c, r]), signal: (s: string) => void signalled.push(s) } : base;
}

interface InputRig {
  readonly socket: PassThrough;
  readonly valve: Valve;
  readonly input: ClientInput;
  readonly hellos: Buffer[];
  readonly errors: InputError[];
  activity: number;
}

function inputRig(): InputRig {
  const socket = new PassThrough();
  socket.resume();
  const valve = new Valve(socket);
  const rig: InputRig = {
    socket,
    valve,
    hellos: [],
    errors: [],
    activity: 0,
    input: undefined as unknown as ClientInput,
  };
  (rig as { input: ClientInput }).input = new ClientInput(valve, { hello: (p) => rig.hellos.push(p), protocolError: (e) => rig.errors.push(e), activity: () => rig.activity++ });
  return rig;
}

const stdin = (data: string | Buffer): Buffer => encodeFrame(FrameType.Stdin, data);

describe("ClientInput", () => {
  it("keeps reading while little input waits for the channel, and pauses the socket past the limit", () => {
    const r = inputRig();
    r.input.push(Buffer.concat([encodeFrame(FrameType.Hello, "{}"), stdin("early")]));
    assert.equal(r.socket.isPaused(), false, "a few early bytes wait in memory");
    const chunk = Buffer.alloc(16 * 1024, 0x62);
    let sent = 5;
    while (!r.socket.isPaused()) {
      r.input.push(stdin(chunk));
      sent += chunk.length;
      assert.ok(sent <= PENDING_INPUT_LIMIT + chunk.length, `still reading after ${sent} bytes waited`);
    }
    assert.ok(sent > PENDING_INPUT_LIMIT);
    assert.equal(r.hellos.length, 1);
  });

  it("refuses more input than the limit before a HELLO instead of waiting for one that cannot come", () => {
    const r = inputRig();
    for (let i = 0; i < 8 && r.errors.length === 0; i++) r.input.push(stdin(Buffer.alloc(16 * 1024)));
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.message, `protocol: more than ${PENDING_INPUT_LIMIT} bytes of input before HELLO`);
    assert.equal(r.socket.isPaused(), false, "not paused: the session ends and the socket closes");
  });

  it("hands the waiting input to the channel in order, then reads on", async () => {
    const r = inputRig();
    const parts = Array.from({ length: 8 }, (_, i) => Buffer.alloc(12 * 1024, 0x30 + i));
    r.input.push(encodeFrame(FrameType.Hello, "{}"));
    for (const p of parts) r.input.push(stdin(p));
    r.input.push(encodeFrame(FrameType.StdinEof));
    assert.equal(r.socket.isPaused(), true);
    const sink = new SlowSink("auto", 1 << 20);
    r.input.attach(channelOf(sink));
    assert.equal(r.socket.isPaused(), false);
    assert.equal(sink.writableEnded, true, "the EOF that waited ends the input");
    await new Promise((resolve) => sink.once("finish", resolve));
    assert.deepEqual(sink.bytes, Buffer.concat(parts));
  });

  it("waits for one drain per stall of the channel's input, however many frames one read holds", async () => {
    const r = inputRig();
    const sink = new SlowSink("manual", 1024);
    const peak = listenerPeak(sink, "drain");
    r.input.push(encodeFrame(FrameType.Hello, "{}"));
    r.input.attach(channelOf(sink));
    const frames = Array.from({ length: 300 }, (_, i) => stdin(Buffer.alloc(100, i % 256)));
    r.input.push(Buffer.concat(frames));
    assert.equal(peak(), 1, "one drain listener for the stall, not one per frame");
    assert.equal(r.socket.isPaused(), true, "the client is not read while the channel is full");
    assert.equal(r.activity, 300);
    sink.release();
    await eventually(() => !r.socket.isPaused());
    assert.equal(sink.bytes.length, 300 * 100, "every frame reached the channel");
    assert.equal(sink.listenerCount("drain"), 0);
  });

  it("resizes and signals a channel that has a terminal and a process, and ignores them on one that has not", () => {
    const r = inputRig();
    const ch = channelOf(new PassThrough());
    r.input.push(encodeFrame(FrameType.Hello, "{}"));
    r.input.attach(ch);
    r.input.push(Buffer.concat([encodeFrame(FrameType.Resize, JSON.stringify({ cols: 120, rows: 40 })), encodeFrame(FrameType.Signal, "SIGINT"), encodeFrame(FrameType.Signal, "SIGKILL")]));
    assert.deepEqual(ch.resized, [[120, 40]]);
    assert.deepEqual(ch.signalled, ["SIGINT"], "SIGKILL is not one a client may send");
    const tcp = inputRig();
    tcp.input.push(encodeFrame(FrameType.Hello, "{}"));
    tcp.input.attach(channelOf(new PassThrough(), false));
    tcp.input.push(Buffer.concat([encodeFrame(FrameType.Resize, "{not json"), encodeFrame(FrameType.Signal, "SIGINT")]));
    assert.deepEqual(tcp.errors, [], "a TCP tunnel does not even parse them");
  });

  it("reports a resize that does not parse as a protocol error", () => {
    const r = inputRig();
    r.input.push(encodeFrame(FrameType.Hello, "{}"));
    r.input.attach(channelOf(new PassThrough()));
    r.input.push(encodeFrame(FrameType.Resize, "{not json"));
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.field, "protocol");
  });

  it("reports a frame over the size limit as a protocol error before buffering it", () => {
    const r = inputRig();
    const header = Buffer.alloc(5);
    header.writeUInt8(FrameType.Stdin, 0);
    header.writeUInt32BE(64 * 1024 * 1024, 1);
    r.input.push(header);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]?.message ?? "", /^protocol: frame of 67108864 bytes exceeds/);
  });

  it("takes the first HELLO only, and drops STDIN after STDIN_EOF", async () => {
    const r = inputRig();
    const sink = new SlowSink("auto", 1 << 20);
    r.input.push(Buffer.concat([encodeFrame(FrameType.Hello, "one"), encodeFrame(FrameType.Hello, "two")]));
    r.input.attach(channelOf(sink));
    r.input.push(Buffer.concat([stdin("a"), encodeFrame(FrameType.StdinEof), stdin("late")]));
    await new Promise((resolve) => sink.once("finish", resolve));
    assert.deepEqual(r.hellos.map((h) => h.toString()), ["one"]);
    assert.equal(sink.bytes.toString(), "a");
    assert.deepEqual(r.errors, []);
  });

  it("dispatches nothing once stopped, even what was waiting", () => {
    const r = inputRig();
    const sink = new SlowSink("auto", 1 << 20);
    r.input.push(Buffer.concat([encodeFrame(FrameType.Hello, "{}"), stdin("waiting")]));
    r.input.stop();
    r.input.attach(channelOf(sink));
    r.input.push(stdin("after"));
    assert.equal(sink.bytes.length, 0);
  });
});

const dir = mkdtempSync(join(tmpdir(), "pst-flow-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

async function socketPair(): Promise<{ daemon: Socket; client: Socket; close(): Promise<void> }> {
  const path = join(dir, `p${++seq}.sock`);
  let daemon: Socket | null = null;
  const closers: (() => Promise<void>)[] = [];
  const accepted = new Promise<void>((resolve) => {
    const server = createServer((s) => {
      daemon = s;
      resolve();
    });
    server.listen(path, () => undefined);
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
  });
  const client = connect(path);
  await accepted;
  return {
    daemon: daemon as unknown as Socket,
    client,
    close: async () => {
      client.destroy();
      (daemon as unknown as Socket).destroy();
      for (const c of closers) await c();
    },
  };
}

describe("ClientLink", () => {
  it("pauses every output while the client is slow, with one drain listener for all, and loses nothing", async () => {
    const p = await socketPair();
    try {
      p.client.pause();
      const link = new ClientLink(p.daemon);
      const peak = listenerPeak(p.daemon, "drain");
      const out = new PassThrough();
      const err = new PassThrough();
      const relayed = Promise.all([link.relay({ frame: FrameType.Stdout, stream: out }, () => undefined), link.relay({ frame: FrameType.Stderr, stream: err }, () => undefined)]);
      const a = Buffer.alloc(2 << 20, 0x61);
      const b = Buffer.alloc(2 << 20, 0x62);
      for (let i = 0; i < a.length; i += 32 * 1024) {
        out.write(a.subarray(i, i + 32 * 1024));
        err.write(b.subarray(i, i + 32 * 1024));
      }
      out.end();
      err.end();
      await eventually(() => out.isPaused() && err.isPaused());
      assert.equal(peak(), 1, "one drain wait for the stall, shared by stdout and stderr");
      const frames: Frame[] = [];
      const decoder = new FrameDecoder();
      p.client.on("data", (c: Buffer) => frames.push(...decoder.push(c)));
      p.client.resume();
      await relayed;
      link.send(FrameType.Exit, JSON.stringify({ code: 0 }));
      link.close();
      await new Promise((resolve) => p.client.once("end", resolve));
      const text = (type: number): Buffer => Buffer.concat(frames.filter((f) => f.type === type).map((f) => f.payload));
      assert.deepEqual(text(FrameType.Stdout), a);
      assert.deepEqual(text(FrameType.Stderr), b);
      assert.equal(frames.at(-1)?.type, FrameType.Exit, "the exit status after the last byte");
    } finally {
      await p.close();
    }
  });

  it("drops frames once closed and lets held outputs run out instead of waiting for a drain", async () => {
    const p = await socketPair();
    try {
      p.client.pause();
      const link = new ClientLink(p.daemon);
      const out = new PassThrough();
      const relayed = link.relay({ frame: FrameType.Stdout, stream: out }, () => undefined);
      out.write(Buffer.alloc(4 << 20));
      await eventually(() => out.isPaused());
      link.close();
      assert.equal(out.isPaused(), false);
      const before = p.daemon.writableLength;
      out.end(Buffer.alloc(1 << 20));
      await relayed;
      link.send(FrameType.Exit, "{}");
      await turns();
      assert.ok(p.daemon.writableLength <= before, "nothing more was queued for the client");
    } finally {
      await p.close();
    }
  });
});

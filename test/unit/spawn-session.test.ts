import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { encodeFrame, FrameDecoder, FrameType, MAX_FRAME_PAYLOAD, type Frame } from "../../agent/src/core/protocol/frames.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { runSpawn, SPAWN_FAILURE, type SpawnIo } from "../../agent/src/spawn/client.js";
import type { Hello } from "../../agent/src/spawn/hello.js";
import { SpawnSession } from "../../agent/src/spawn/spawn-session.js";
import { eventually, listenerPeak, SlowSink } from "./helpers/slow-streams.js";

/** Hang guard only: nothing here asserts a duration. */
const SUITE = { timeout: 60_000 };
const HELLO: Hello = { tty: false, offersPipes: false, json: JSON.stringify({ v: 1, command: "true", tty: false, cols: 0, rows: 0, term: null, env: {}, project: null, authKey: null }) };

const dir = mkdtempSync(join(tmpdir(), "pst-spawn-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

/** The daemon's side of the socket, scripted by each test; it sees the frames spawn sends. */
interface Daemon {
  readonly path: string;
  readonly frames: Frame[];
  /** The accepted connection, once there is one. */
  readonly conn: Promise<Socket>;
  close(): Promise<void>;
}

async function daemon(onHello: (conn: Socket) => void = () => undefined, opts: { paused?: boolean } = {}): Promise<Daemon> {
  const path = join(dir, `d${++seq}.sock`);
  const frames: Frame[] = [];
  let accepted!: (s: Socket) => void;
  const conn = new Promise<Socket>((resolve) => (accepted = resolve));
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    if (opts.paused) s.pause();
    s.on("error", () => undefined);
    const decoder = new FrameDecoder();
    s.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        frames.push(f);
        if (f.type === FrameType.Hello) onHello(s);
      }
    });
    accepted(s);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    frames,
    conn,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface TestIo extends SpawnIo {
  readonly stdinStream: PassThrough;
  readonly out: SlowSink;
  readonly err: SlowSink;
}

function io(stdout: SlowSink = new SlowSink("auto", 1 << 20)): TestIo {
  const stdin = new PassThrough();
  const err = new SlowSink("auto", 1 << 20);
  return { stdin: stdin as unknown as NodeJS.ReadStream, stdout: stdout as unknown as NodeJS.WriteStream, stderr: err as unknown as NodeJS.WriteStream, env: {}, stdinStream: stdin, out: stdout, err };
}

function frames(type: typeof FrameType.Stdout | typeof FrameType.Stderr, total: number, size: number): Buffer[] {
  return Array.from({ length: total / size }, (_, i) => encodeFrame(type, Buffer.alloc(size, i % 256)));
}

const exit = (code: number): Buffer => encodeFrame(FrameType.Exit, JSON.stringify({ code }));

function session(t: TestIo, path: string): { run: Promise<number>; socket: Socket } {
  const socket = connect(path);
  return { run: new SpawnSession(t, HELLO, socket).run(), socket };
}

/** Warnings Node prints on the process's stderr (MaxListenersExceededWarning among them). */
function warnings(): { list: Error[]; stop(): void } {
  const list: Error[] = [];
  const on = (w: Error): void => void list.push(w);
  process.on("warning", on);
  return { list, stop: () => process.off("warning", on) };
}

describe("SpawnSession: daemon -> user", SUITE, () => {
  it("waits for one drain per stall of a slow stdout, however many frames one read holds, and prints no warning", async () => {
    const payload = frames(FrameType.Stdout, 256 * 1024, 256);
    const d = await daemon((conn) => conn.write(Buffer.concat([...payload, exit(0)])));
    const t = io(new SlowSink("auto", 1024));
    const peak = listenerPeak(t.out, "drain");
    const w = warnings();
    try {
      assert.equal(await session(t, d.path).run, 0);
      assert.equal(peak(), 1, "one drain listener per stall, not one per frame");
      assert.deepEqual(w.list, []);
      assert.equal(t.out.bytes.length, 256 * 1024);
      assert.ok(t.out.bytes.equals(Buffer.concat(payload.map((f) => f.subarray(5)))), "every byte, in order");
      assert.equal(t.err.bytes.length, 0, "nothing on stderr");
    } finally {
      w.stop();
      await d.close();
    }
  });

  it("writes nothing to the user's stderr but the session's stderr and its one-line messages", async () => {
    const d = await daemon((conn) =>
      conn.write(
        Buffer.concat([
          encodeFrame(FrameType.Info, "podspawn: starting your default environment...\r\n"),
          encodeFrame(FrameType.Stderr, "warning: from the container\n"),
          encodeFrame(FrameType.Stdout, "out"),
          encodeFrame(FrameType.Error, JSON.stringify({ message: "the environment image x is not available on this node" })),
        ]),
      ),
    );
    const t = io();
    try {
      assert.equal(await session(t, d.path).run, SPAWN_FAILURE);
      assert.equal(t.err.bytes.toString(), "warning: from the container\npodspawn: the environment image x is not available on this node\n", "no INFO without a terminal");
      assert.equal(t.out.bytes.toString(), "out");
    } finally {
      await d.close();
    }
  });

  it("hands a slow reader the whole output before leaving with the exit status, though the daemon has hung up", async () => {
    const payload = frames(FrameType.Stdout, 1 << 20, 64 * 1024);
    const d = await daemon((conn) => conn.end(Buffer.concat([...payload, exit(3)])));
    const t = io(new SlowSink("auto", 16 * 1024));
    try {
      assert.equal(await session(t, d.path).run, 3);
      assert.equal(t.out.bytes.length, 1 << 20);
      assert.equal(t.err.bytes.length, 0, "the daemon's close after EXIT is the normal end, not a lost connection");
    } finally {
      await d.close();
    }
  });

  it("says in one line that the daemon closed without an exit status, and leaves with 255", async () => {
    const d = await daemon((conn) => conn.end(encodeFrame(FrameType.Stdout, "partial")));
    const t = io();
    try {
      assert.equal(await session(t, d.path).run, SPAWN_FAILURE);
      assert.equal(t.err.bytes.toString(), "podspawn: the session service closed the connection\n");
    } finally {
      await d.close();
    }
  });

  it("says in one line that the session service is not running, and leaves with 255", async () => {
    const t = io();
    assert.equal(await session(t, join(dir, "nobody-listens.sock")).run, SPAWN_FAILURE);
    assert.equal(t.err.bytes.toString(), "podspawn: the session service (podspawnd) is not running on this node; try again shortly or tell the node's admin\n");
    assert.equal(t.out.bytes.length, 0);
  });

  it("ends a broken frame from the daemon with one line instead of an exception", async () => {
    const bad = Buffer.alloc(5);
    bad.writeUInt8(FrameType.Stdout, 0);
    bad.writeUInt32BE(64 * 1024 * 1024, 1);
    const d = await daemon((conn) => conn.write(bad));
    const diagnostics: string[] = [];
    const t = { ...io(), diagnose: (line: string) => void diagnostics.push(line) };
    try {
      assert.equal(await session(t, d.path).run, SPAWN_FAILURE);
      assert.equal(t.err.bytes.toString(), "podspawn: the session service sent a broken frame\n", "one line, no internals");
      assert.deepEqual(diagnostics, [`broken frame from the daemon: frame of 67108864 bytes exceeds ${MAX_FRAME_PAYLOAD}`], "the detail goes to the admin");
    } finally {
      await d.close();
    }
  });
});

describe("SpawnSession: user -> daemon", SUITE, () => {
  it("pauses stdin while the daemon does not read, with one drain wait per stall, and delivers it all in order", async () => {
    // Not reading from the start: spawn may fill the socket before the daemon would see the HELLO.
    const d = await daemon(() => undefined, { paused: true });
    const t = io();
    const s = session(t, d.path);
    const peak = listenerPeak(s.socket, "drain");
    try {
      const conn = await d.conn;
      const data = Buffer.alloc(4 << 20);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      for (let off = 0; off < data.length; off += 16 * 1024) t.stdinStream.write(data.subarray(off, off + 16 * 1024));
      await eventually(() => t.stdinStream.isPaused());
      assert.equal(peak(), 1, "one drain listener on the daemon socket for the stall");
      t.stdinStream.end();
      conn.resume();
      await eventually(() => d.frames.some((f) => f.type === FrameType.StdinEof));
      const got = Buffer.concat(d.frames.filter((f) => f.type === FrameType.Stdin).map((f) => f.payload));
      assert.ok(got.equals(data), `got ${got.length} of ${data.length} bytes`);
      conn.write(exit(0));
      assert.equal(await s.run, 0);
    } finally {
      await d.close();
    }
  });

  it("tells the daemon about a SIGHUP and leaves at once with 129, even while a stuck reader holds the flush", async () => {
    const d = await daemon((conn) => conn.write(Buffer.concat([encodeFrame(FrameType.Stdout, Buffer.alloc(64 * 1024)), exit(0)])));
    const t = io(new SlowSink("manual", 1024));
    const before = process.listenerCount("SIGHUP");
    try {
      const s = session(t, d.path);
      await eventually(() => t.out.chunks.length > 0);
      assert.equal(process.listenerCount("SIGHUP"), before + 1);
      process.emit("SIGHUP");
      assert.equal(await s.run, 129);
      await eventually(() => d.frames.some((f) => f.type === FrameType.Signal));
      assert.deepEqual(
        d.frames.filter((f) => f.type === FrameType.Signal).map((f) => f.payload.toString()),
        ["SIGHUP"],
      );
      assert.equal(process.listenerCount("SIGHUP"), before, "its signal handlers are gone with it");
      assert.equal(s.socket.destroyed, true);
    } finally {
      await d.close();
    }
  });
});

describe("SpawnSession: offered pipes (the direct path's handshake)", SUITE, () => {
  const OFFER: Hello = { ...HELLO, offersPipes: true };
  const mode = (m: string): Buffer => encodeFrame(FrameType.StdioMode, m);

  it("reads no stdin before the daemon's answer, and relays all of it after `relay`", async () => {
    let answer!: (conn: Socket) => void;
    const helloSeen = new Promise<Socket>((resolve) => (answer = resolve));
    const d = await daemon((conn) => answer(conn));
    const t = io();
    const s = new SpawnSession(t, OFFER, connect(d.path)).run();
    try {
      const conn = await helloSeen;
      t.stdinStream.write("typed early\n");
      // Give spawn every chance to read: the socket and stdin have been serviced several times.
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      assert.equal(t.stdinStream.readableLength, "typed early\n".length, "the byte is still in stdin");
      assert.equal(d.frames.filter((f) => f.type === FrameType.Stdin).length, 0);
      conn.write(mode("relay"));
      t.stdinStream.end("and later\n");
      await eventually(() => d.frames.some((f) => f.type === FrameType.StdinEof));
      assert.equal(Buffer.concat(d.frames.filter((f) => f.type === FrameType.Stdin).map((f) => f.payload)).toString(), "typed early\nand later\n");
      conn.write(exit(0));
      assert.equal(await s, 0);
    } finally {
      await d.close();
    }
  });

  it("after `direct` never reads stdin (those bytes are the container's), and still leaves with the exit status", async () => {
    const d = await daemon((conn) => conn.write(mode("direct")));
    const t = io();
    const s = new SpawnSession(t, OFFER, connect(d.path)).run();
    try {
      await eventually(() => d.frames.some((f) => f.type === FrameType.Hello));
      t.stdinStream.end("for the process\n");
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      assert.equal(t.stdinStream.readableLength, "for the process\n".length, "nothing read");
      assert.equal(t.stdinStream.listenerCount("data"), 0);
      const conn = await d.conn;
      conn.write(exit(7));
      assert.equal(await s, 7);
      assert.equal(d.frames.filter((f) => f.type === FrameType.Stdin || f.type === FrameType.StdinEof).length, 0);
    } finally {
      await d.close();
    }
  });
});

describe("runSpawn", SUITE, () => {
  const layout = { ...layoutFor("podspawn-unit"), runDir: dir };

  it("refuses an invalid --user, in one line and 255", async () => {
    const t = io();
    assert.equal(await runSpawn(["--user", "Root;id"], layout, t), SPAWN_FAILURE);
    assert.equal(t.err.bytes.toString(), "podspawn: spawn needs --user NAME with a valid pod username; it is meant to be run by sshd as a forced command\n");
  });

  it("without --user (sshd's ForceCommand) serves the running account, and refuses one that is no pod user (root here)", async () => {
    const t = io();
    assert.equal(await runSpawn([], layout, t), SPAWN_FAILURE);
    assert.equal(t.err.bytes.toString(), 'podspawn: this account ("root") is not a pod user; spawn is meant to be run by sshd as a forced command\n');
  });

  it("refuses to run for another account than the one running it", async () => {
    const t = io();
    assert.equal(await runSpawn(["--user", "dev"], layout, t), SPAWN_FAILURE);
    assert.match(t.err.bytes.toString(), /^podspawn: this account is "[^"]+", not "dev"; refusing\n$/);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { PassThrough } from "node:stream";
import { encodeFrame, FrameType } from "../../agent/src/core/protocol/frames.js";
import { DaemonFrames, type DaemonVerdict } from "../../agent/src/spawn/daemon-frames.js";
import { buildHello, parseProjectFlag, stdioArePipes } from "../../agent/src/spawn/hello.js";
import type { SpawnIo } from "../../agent/src/spawn/io.js";

function sinks(showInfo: boolean): { stdout: PassThrough; stderr: PassThrough; out: () => string; err: () => string; showInfo: boolean } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  stdout.on("data", (c: Buffer) => o.push(c));
  stderr.on("data", (c: Buffer) => e.push(c));
  return { stdout, stderr, showInfo, out: () => Buffer.concat(o).toString(), err: () => Buffer.concat(e).toString() };
}

function feed(showInfo: boolean, frames: Buffer[]): { out: string; err: string; verdicts: DaemonVerdict[] } {
  const s = sinks(showInfo);
  const verdicts: DaemonVerdict[] = [];
  const frames$ = new DaemonFrames(new PassThrough() as unknown as Socket, s, (v) => verdicts.push(v), () => undefined);
  frames$.push(Buffer.concat(frames));
  return { out: s.out(), err: s.err(), verdicts };
}

describe("spawn: PROGRESS frames", () => {
  const build = [
    encodeFrame(FrameType.Info, "podspawn: starting your web environment...\r\n"),
    encodeFrame(FrameType.Progress, "building environment web: step 1/3 : FROM podspawn/default:bookworm"),
    encodeFrame(FrameType.Progress, "building environment web: step 2/3 : RUN make"),
    encodeFrame(FrameType.Stdout, "session bytes"),
    encodeFrame(FrameType.Exit, JSON.stringify({ code: 0 })),
  ];

  it("go to stderr as podspawn: lines without a terminal (scp, rsync, scripts), where INFO does not; stdout holds only the session's bytes", () => {
    const r = feed(false, build);
    assert.equal(r.err, "podspawn: building environment web: step 1/3 : FROM podspawn/default:bookworm\npodspawn: building environment web: step 2/3 : RUN make\n");
    assert.equal(r.out, "session bytes");
    assert.deepEqual(r.verdicts, [{ kind: "exit", code: 0 }]);
  });

  it("go to stderr with a terminal too, after the INFO line", () => {
    const r = feed(true, build);
    assert.equal(r.err, "podspawn: starting your web environment...\r\npodspawn: building environment web: step 1/3 : FROM podspawn/default:bookworm\npodspawn: building environment web: step 2/3 : RUN make\n");
    assert.equal(r.out, "session bytes");
  });
});

describe("spawn --project", () => {
  const io = (env: Record<string, string>) => ({ stdin: { isTTY: false }, stdout: { columns: 0, rows: 0 }, stderr: {}, env }) as unknown as SpawnIo;

  it("selects the project from PODSPAWN_PROJECT without the flag, and none without either", () => {
    assert.equal(JSON.parse(buildHello(io({ PODSPAWN_PROJECT: "web" })).json).project, "web");
    assert.equal(JSON.parse(buildHello(io({})).json).project, null);
  });

  it("offers its pid for the direct path only without a terminal and with all three stdio pipes", () => {
    const offered = buildHello(io({}), null, () => true);
    assert.equal(offered.offersPipes, true);
    assert.equal(JSON.parse(offered.json).stdio.pid, process.pid);
    assert.match(JSON.parse(offered.json).stdio.start, /^\d+$/);
    const sockets = buildHello(io({}), null, () => false);
    assert.equal(sockets.offersPipes, false);
    assert.equal(JSON.parse(sockets.json).stdio, undefined);
    const ttyIo = { stdin: { isTTY: true }, stdout: { columns: 80, rows: 24 }, stderr: {}, env: { SSH_TTY: "/dev/pts/1" } } as unknown as SpawnIo;
    assert.equal(buildHello(ttyIo, null, () => assert.fail("a terminal session asks nothing about pipes")).offersPipes, false);
    assert.equal(stdioArePipes((fd) => fd !== 1), false, "one socket is enough to not offer");
    assert.equal(stdioArePipes(() => { throw new Error("EBADF"); }), false);
  });

  it("lets the forced command's --project win over the user's SetEnv", () => {
    const argv = ["--user", "alice", "--project", "api"];
    assert.equal(parseProjectFlag(argv), "api");
    assert.equal(JSON.parse(buildHello(io({ PODSPAWN_PROJECT: "web" }), parseProjectFlag(argv)).json).project, "api");
    assert.equal(parseProjectFlag(["--user", "alice"]), null);
    assert.equal(parseProjectFlag(["--user", "alice", "--project"]), null);
  });
});

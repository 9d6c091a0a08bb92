import { testPodIds } from "./helpers/pod-ids.js";
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { FakeImageBuilder } from "../../agent/src/adapters/fake/fake-image-builder.js";
import { ImageBuilds } from "../../agent/src/daemon/projects/image-builds.js";
import { Planner } from "../../agent/src/daemon/projects/planner.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import type { ExecPlan } from "../../agent/src/core/container/exec-plan.js";
import type { ExecSession } from "../../agent/src/core/ports/container-runtime.js";
import { agentDataParts, encodeAgentControl, parseAgentFrame } from "../../agent/src/core/protocol/agent-frames.js";
import { encodeFrame, FrameDecoder, FrameType, type Frame } from "../../agent/src/core/protocol/frames.js";
import { DrainGate, Valve } from "../../agent/src/support/backpressure.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import { AgentChannel, MAX_AGENT_CONNECTIONS } from "../../agent/src/daemon/session/agent-channel.js";
import { AGENT_UNAVAILABLE_LINE } from "../../agent/src/daemon/session/agent-forwarding.js";
import { handleSession } from "../../agent/src/daemon/session/session.js";
import { TmpDirSockets } from "./helpers/tmpdir-sockets.js";

const SUITE = { timeout: 60_000 };

/** True once `cond` holds (polled on the event loop); false after many polls, for a clear failure. */
async function eventually(cond: () => boolean): Promise<boolean> {
  for (let polls = 0; polls < 5000; polls++) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return cond();
}
const dir = mkdtempSync(join(tmpdir(), "podspawn-agent-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

/** The session's link to spawn, as the channel sees it: a sink that can be made to stall. */
class LinkRig {
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder();
  private stalledCallbacks: (() => void)[] = [];
  stalled = false;
  /** Reading of the client link: what the valve pauses. */
  readonly reading = { paused: false, pause: () => void (this.reading.paused = true), resume: () => void (this.reading.paused = false) };
  readonly sink = new Writable({
    highWaterMark: 1024,
    write: (chunk: Buffer, _enc, cb) => {
      this.frames.push(...this.decoder.push(chunk));
      if (this.stalled) this.stalledCallbacks.push(cb);
      else cb();
    },
  });
  readonly valve = new Valve(this.reading);
  readonly gate = new DrainGate(this.sink);
  readonly mux = { sink: this.sink, gate: this.gate, valve: this.valve };

  unstall(): void {
    this.stalled = false;
    for (const cb of this.stalledCallbacks.splice(0)) cb();
  }

  of(type: number): { id: number; data: Buffer }[] {
    return this.frames.filter((f) => f.type === type).map((f) => parseAgentFrame(type as typeof FrameType.AgentData, f.payload));
  }
}

async function channelRig(): Promise<{ link: LinkRig; sockets: TmpDirSockets; channel: AgentChannel; path: string }> {
  const sockets = new TmpDirSockets(dir);
  const listener = await sockets.listen("c1", `a${++seq}.sock`, { uid: 70000, gid: 70000 });
  const link = new LinkRig();
  return { link, sockets, channel: new AgentChannel(listener, link.mux), path: listener.path };
}

function connectTo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once("error", reject);
  });
}

const closed = (s: Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once("close", () => r())));

describe("AgentChannel", SUITE, () => {
  it("opens one agent channel per connection in the container and sends its bytes as AgentData of that id", async () => {
    const { link, channel, path } = await channelRig();
    const conn = await connectTo(path);
    conn.write("request");
    assert.ok(await eventually(() => link.of(FrameType.AgentData).length > 0));
    const [open] = link.of(FrameType.AgentOpen);
    assert.ok(open);
    assert.equal(link.frames[0]?.type, FrameType.AgentOpen, "the open goes before the data");
    assert.deepEqual(link.of(FrameType.AgentData).map((d) => [d.id, d.data.toString()]), [[open.id, "request"]]);
    conn.destroy();
    channel.close();
  });

  it("delivers the client's data to that connection, and the client's AgentClose ends it after the data", async () => {
    const { link, channel, path } = await channelRig();
    const conn = await connectTo(path);
    assert.ok(await eventually(() => link.of(FrameType.AgentOpen).length === 1));
    const id = link.of(FrameType.AgentOpen)[0]!.id;
    let got = "";
    conn.on("data", (d) => (got += String(d)));
    const parts = agentDataParts(id, Buffer.from("answer"));
    channel.fromClient({ type: FrameType.AgentData, payload: Buffer.concat(parts.slice(1)) });
    channel.fromClient({ type: FrameType.AgentClose, payload: encodeAgentControl(FrameType.AgentClose, id).subarray(5) });
    await closed(conn);
    assert.equal(got, "answer");
    assert.equal(channel.open, 0);
    assert.equal(link.of(FrameType.AgentClose).length, 0, "no close goes back for a close the client sent");
    channel.close();
  });

  it("sends AgentClose once when the container's side of a connection goes", async () => {
    const { link, channel, path } = await channelRig();
    const conn = await connectTo(path);
    assert.ok(await eventually(() => link.of(FrameType.AgentOpen).length === 1));
    conn.end();
    assert.ok(await eventually(() => link.of(FrameType.AgentClose).length === 1));
    assert.deepEqual(link.of(FrameType.AgentClose).map((c) => c.id), link.of(FrameType.AgentOpen).map((o) => o.id));
    assert.ok(await eventually(() => channel.open === 0));
    // Data the client sent across the close goes nowhere, and breaks nothing.
    channel.fromClient({ type: FrameType.AgentData, payload: Buffer.concat(agentDataParts(link.of(FrameType.AgentOpen)[0]!.id, Buffer.from("late")).slice(1)) });
    channel.close();
  });

  it(`holds at most ${MAX_AGENT_CONNECTIONS} connections at once: one more is closed at once, with no channel opened`, async () => {
    const { link, channel, path } = await channelRig();
    const conns = await Promise.all(Array.from({ length: MAX_AGENT_CONNECTIONS }, () => connectTo(path)));
    assert.ok(await eventually(() => link.of(FrameType.AgentOpen).length === MAX_AGENT_CONNECTIONS));
    const extra = await connectTo(path);
    extra.on("error", () => undefined);
    await closed(extra);
    assert.equal(link.of(FrameType.AgentOpen).length, MAX_AGENT_CONNECTIONS);
    assert.equal(channel.open, MAX_AGENT_CONNECTIONS);
    // A place freed is a place for the next one.
    conns[0]!.destroy();
    assert.ok(await eventually(() => channel.open === MAX_AGENT_CONNECTIONS - 1));
    const next = await connectTo(path);
    assert.ok(await eventually(() => link.of(FrameType.AgentOpen).length === MAX_AGENT_CONNECTIONS + 1));
    for (const c of [...conns, next]) c.destroy();
    channel.close();
  });

  it("a full link to the client pauses the container's connection until it drains", async () => {
    const { link, channel, path, sockets } = await channelRig();
    const conn = await connectTo(path);
    assert.ok(await eventually(() => sockets.accepted.length === 1));
    const daemonSide = sockets.accepted[0]!;
    link.stalled = true;
    conn.write(Buffer.alloc(64 * 1024, 1));
    assert.ok(await eventually(() => daemonSide.isPaused()), "the connection is no longer read");
    link.unstall();
    assert.ok(await eventually(() => !daemonSide.isPaused()), "read again once the link drained");
    conn.destroy();
    channel.close();
  });

  it("data for a connection that does not read holds the client link's reading until it reads again", async () => {
    const { link, channel, path } = await channelRig();
    const conn = await connectTo(path);
    conn.pause();
    assert.ok(await eventually(() => link.of(FrameType.AgentOpen).length === 1));
    const id = link.of(FrameType.AgentOpen)[0]!.id;
    const chunk = Buffer.concat(agentDataParts(id, Buffer.alloc(60 * 1024)).slice(1));
    for (let i = 0; i < 64 && !link.valve.held; i++) channel.fromClient({ type: FrameType.AgentData, payload: chunk });
    assert.ok(link.valve.held, "the link's reading is held");
    assert.ok(link.reading.paused);
    conn.resume();
    assert.ok(await eventually(() => !link.valve.held), "released once the connection drained");
    conn.destroy();
    channel.close();
  });

  it("close (the session's end) destroys every connection and removes the socket", async () => {
    const { channel, path, sockets } = await channelRig();
    const conns = await Promise.all([connectTo(path), connectTo(path)]);
    assert.ok(await eventually(() => channel.open === 2));
    channel.close();
    await Promise.all(conns.map(closed));
    assert.equal(sockets.open.size, 0);
    assert.ok(await eventually(() => !existsSync(path)));
    const late = await new Promise<string>((r) => connect(path).on("connect", () => r("connected")).on("error", (e: NodeJS.ErrnoException) => r(e.code ?? "")));
    assert.equal(late, "ENOENT");
  });
});

// ---- through a whole session ------------------------------------------------------------------

const IMAGE = "podspawn/test:fake";
const CONFIG: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: IMAGE, session: { ...DEFAULT_NODE_CONFIG.session, idleTimeoutMs: 0, maxLifetimeMs: 0 } };

class PlanRecordingRuntime extends FakeRuntime {
  readonly plans: ExecPlan[] = [];
  constructor() {
    super(new Map([[IMAGE, new Map([["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")], ["/etc/group", Buffer.from("root:x:0:\n")], ["/bin/sh", Buffer.alloc(0)]])]]));
  }
  override async exec(id: string, plan: ExecPlan): Promise<ExecSession> {
    this.plans.push(plan);
    return super.exec(id, plan);
  }
}

async function sessionRig(sockets: TmpDirSockets): Promise<{ runtime: PlanRecordingRuntime; client: Socket; frames: Frame[]; close: () => Promise<void> }> {
  const runtime = new PlanRecordingRuntime();
  const log = (): void => undefined;
  const environments = new Environments({ instance: "pst", runtime, podIdOf: testPodIds(), config: () => CONFIG, log });
  const builds = new ImageBuilds({ builder: new FakeImageBuilder(runtime.images), logDir: dir, timeoutMs: () => 60_000, log });
  const planner = new Planner({ instance: "pst", config: () => CONFIG, project: async () => null, builds });
  const path = join(dir, `session${++seq}.sock`);
  const server: Server = createServer((sock) => void handleSession(sock, "alice", { runtime, environments, planner, config: () => CONFIG, log, audit: () => undefined, egress: async () => undefined, sockets }));
  await new Promise<void>((r) => server.listen(path, r));
  const client = await connectTo(path);
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  client.on("data", (d: Buffer) => frames.push(...decoder.push(d)));
  return { runtime, client, frames, close: () => new Promise((r) => (client.destroy(), server.close(() => r()))) };
}

const hello = (agent: boolean): Buffer => encodeFrame(FrameType.Hello, JSON.stringify({ v: 1, command: "cat", tty: false, project: null, agent }));

describe("a session's agent", SUITE, () => {
  it("with the client's agent: SSH_AUTH_SOCK names the session's socket, which relays, and goes when the client does", async () => {
    const sockets = new TmpDirSockets(dir);
    const r = await sessionRig(sockets);
    r.client.write(hello(true));
    assert.ok(await eventually(() => r.runtime.plans.length === 1));
    const call = sockets.calls[0];
    assert.ok(call, "a socket was asked for");
    assert.deepEqual([call.owner.uid, call.owner.gid], [101001, 101001], "owned by the user's own container id");
    const env = r.runtime.plans[0]!.env.find((e) => e.startsWith("SSH_AUTH_SOCK="));
    const path = join(dir, call.name);
    assert.equal(env, `SSH_AUTH_SOCK=${path}`);
    const conn = await connectTo(path);
    assert.ok(await eventually(() => r.frames.some((f) => f.type === FrameType.AgentOpen)));
    r.client.destroy();
    await closed(conn);
    assert.ok(await eventually(() => !existsSync(path)), "the socket went with the session");
    await r.close();
  });

  it("without it: no socket is made and SSH_AUTH_SOCK is not set", async () => {
    const sockets = new TmpDirSockets(dir);
    const r = await sessionRig(sockets);
    r.client.write(hello(false));
    assert.ok(await eventually(() => r.runtime.plans.length === 1));
    assert.equal(sockets.calls.length, 0);
    assert.equal(r.runtime.plans[0]!.env.some((e) => e.startsWith("SSH_AUTH_SOCK=")), false);
    await r.close();
  });

  it("a container that cannot have the socket: one line on stderr, and the session runs without an agent", async () => {
    const sockets = new TmpDirSockets(dir);
    sockets.unavailable = "the runsc runtime keeps its filesystem out of the host's reach";
    const r = await sessionRig(sockets);
    r.client.write(hello(true));
    assert.ok(await eventually(() => r.runtime.plans.length === 1));
    assert.equal(r.runtime.plans[0]!.env.some((e) => e.startsWith("SSH_AUTH_SOCK=")), false);
    r.client.write(Buffer.concat([encodeFrame(FrameType.Stdin, "hi"), encodeFrame(FrameType.StdinEof)]));
    assert.ok(await eventually(() => r.frames.some((f) => f.type === FrameType.Exit)));
    const stderr = Buffer.concat(r.frames.filter((f) => f.type === FrameType.Stderr).map((f) => f.payload)).toString();
    const stdout = Buffer.concat(r.frames.filter((f) => f.type === FrameType.Stdout).map((f) => f.payload)).toString();
    assert.equal(stderr, `podspawn: ${AGENT_UNAVAILABLE_LINE}\n`);
    assert.equal(stdout, "hi");
    await r.close();
  });
});

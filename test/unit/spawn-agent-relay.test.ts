import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentDataParts, encodeAgentControl, parseAgentFrame } from "../../agent/src/core/protocol/agent-frames.js";
import { FrameDecoder, FrameType, type Frame } from "../../agent/src/core/protocol/frames.js";
import { Valve } from "../../agent/src/support/backpressure.js";
import { MAX_AGENT_CONNECTIONS, SpawnAgentRelay } from "../../agent/src/spawn/agent-relay.js";
import { buildHello } from "../../agent/src/spawn/hello.js";
import type { SpawnIo } from "../../agent/src/spawn/io.js";

const dir = mkdtempSync(join(tmpdir(), "podspawn-spawn-agent-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

async function eventually(cond: () => boolean): Promise<boolean> {
  for (let polls = 0; polls < 5000; polls++) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return cond();
}

/** The client's agent (a socket that answers "ok:" + what it got), and spawn's daemon connection. */
async function rig(withAgent = true): Promise<{ relay: SpawnAgentRelay; frames: Frame[]; agentConns: Socket[]; close: () => void }> {
  const agentPath = join(dir, `agent${++seq}.sock`);
  const agentConns: Socket[] = [];
  const agent = createServer((s) => {
    agentConns.push(s);
    s.on("data", (d) => s.write(`ok:${String(d)}`));
  });
  await new Promise<void>((r) => agent.listen(agentPath, r));
  const daemonPath = join(dir, `daemon${seq}.sock`);
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  const daemon = createServer((s) => s.on("data", (d: Buffer) => frames.push(...decoder.push(d))));
  await new Promise<void>((r) => daemon.listen(daemonPath, r));
  const socket = connect(daemonPath);
  await new Promise((r) => socket.once("connect", r));
  const relay = new SpawnAgentRelay(withAgent ? agentPath : null, socket, new Valve(socket));
  return { relay, frames, agentConns, close: () => (relay.closeAll(), socket.destroy(), agent.close(), daemon.close()) };
}

const open = (id: number): Frame => ({ type: FrameType.AgentOpen, payload: encodeAgentControl(FrameType.AgentOpen, id).subarray(5) });
const close = (id: number): Frame => ({ type: FrameType.AgentClose, payload: encodeAgentControl(FrameType.AgentClose, id).subarray(5) });
const data = (id: number, text: string): Frame => ({ type: FrameType.AgentData, payload: Buffer.concat(agentDataParts(id, Buffer.from(text)).slice(1)) });
const of = (frames: Frame[], type: number): { id: number; data: string }[] =>
  frames.filter((f) => f.type === type).map((f) => parseAgentFrame(type as typeof FrameType.AgentData, f.payload)).map((p) => ({ id: p.id, data: p.data.toString() }));

describe("SpawnAgentRelay", { timeout: 60_000 }, () => {
  it("connects to the client's agent on AgentOpen and relays both ways under the daemon's id", async () => {
    const r = await rig();
    r.relay.take(open(5));
    r.relay.take(data(5, "list"));
    assert.ok(await eventually(() => of(r.frames, FrameType.AgentData).length > 0));
    assert.deepEqual(of(r.frames, FrameType.AgentData), [{ id: 5, data: "ok:list" }]);
    assert.equal(r.agentConns.length, 1);
    r.close();
  });

  it("the daemon's AgentClose ends the agent connection; the agent going sends AgentClose", async () => {
    const r = await rig();
    r.relay.take(open(1));
    r.relay.take(open(2));
    assert.ok(await eventually(() => r.agentConns.length === 2));
    const first = r.agentConns[0]!;
    r.relay.take(close(1));
    assert.ok(await eventually(() => first.readableEnded || first.destroyed), "the agent saw the first one end");
    r.agentConns[1]!.destroy();
    assert.ok(await eventually(() => of(r.frames, FrameType.AgentClose).length === 1));
    assert.deepEqual(of(r.frames, FrameType.AgentClose), [{ id: 2, data: "" }], "only the one the agent closed is reported");
    r.close();
  });

  it("opens nothing when sshd gave no agent socket: the channel is closed back at once", async () => {
    const r = await rig(false);
    r.relay.take(open(3));
    assert.ok(await eventually(() => of(r.frames, FrameType.AgentClose).length === 1));
    assert.equal(r.agentConns.length, 0);
    r.close();
  });

  it(`refuses an AgentOpen beyond ${MAX_AGENT_CONNECTIONS} open at once`, async () => {
    const r = await rig();
    for (let id = 1; id <= MAX_AGENT_CONNECTIONS + 1; id++) r.relay.take(open(id));
    assert.ok(await eventually(() => of(r.frames, FrameType.AgentClose).length === 1));
    assert.deepEqual(of(r.frames, FrameType.AgentClose), [{ id: MAX_AGENT_CONNECTIONS + 1, data: "" }]);
    assert.ok(await eventually(() => r.agentConns.length === MAX_AGENT_CONNECTIONS));
    r.close();
  });

  it("admits the daemon's next 8 while its previous 8 are still closing here (spawn frees a slot a round trip later)", async () => {
    const r = await rig();
    for (let id = 1; id <= 8; id++) r.relay.take(open(id));
    assert.ok(await eventually(() => r.agentConns.length === 8));
    // The daemon closed them and, its slots free, opens the next ones in the same breath.
    for (let id = 1; id <= 8; id++) r.relay.take(close(id));
    for (let id = 9; id <= 16; id++) r.relay.take(open(id));
    assert.ok(await eventually(() => r.agentConns.length === 16));
    assert.deepEqual(of(r.frames, FrameType.AgentClose), [], "none of the daemon's admitted connections was refused");
    r.close();
  });

  it("throws on a malformed agent frame (the session then ends as broken)", async () => {
    const r = await rig();
    assert.throws(() => r.relay.take({ type: FrameType.AgentData, payload: Buffer.alloc(2) }), /no channel id/);
    r.close();
  });
});

describe("HELLO and the agent", () => {
  const io = (env: NodeJS.ProcessEnv): SpawnIo => ({ stdin: { isTTY: false } as NodeJS.ReadStream, stdout: {} as NodeJS.WriteStream, stderr: {} as NodeJS.WriteStream, env });

  it("says that an agent is there, never where", () => {
    const json = buildHello(io({ SSH_AUTH_SOCK: "/tmp/ssh-XXXXabcd/agent.123" })).json;
    assert.equal((JSON.parse(json) as { agent: unknown }).agent, true);
    assert.doesNotMatch(json, /ssh-XXXXabcd/);
  });

  it("says no agent without SSH_AUTH_SOCK, or with one that is not an absolute socket path", () => {
    for (const env of [{}, { SSH_AUTH_SOCK: "" }, { SSH_AUTH_SOCK: "relative/agent" }, { SSH_AUTH_SOCK: `/${"x".repeat(200)}` }]) {
      assert.equal((JSON.parse(buildHello(io(env)).json) as { agent: unknown }).agent, false, JSON.stringify(env));
    }
  });
});

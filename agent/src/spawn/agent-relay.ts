import { connect } from "node:net";
import type { Socket } from "node:net";
import { agentDataParts, encodeAgentControl, parseAgentFrame, type AgentFrameType } from "../core/protocol/agent-frames.js";
import { FrameType, type Frame } from "../core/protocol/frames.js";
import { DrainGate, type Valve } from "../support/backpressure.js";
import { MuxedStreams } from "../support/muxed-streams.js";

/**
 * The daemon bounds a session's agent connections (8, daemon/session/agent-channel.ts); this is
 * spawn's own guard against a daemon that does not. Twice that bound: spawn frees a slot one round
 * trip after the daemon does (its connection closes when the daemon's AgentClose arrives), so a
 * connection the daemon admitted right after another ended would otherwise be refused here —
 * seen as "communication with agent failed" for an `ssh-add -l` run just after a storm.
 */
export const MAX_AGENT_CONNECTIONS = 16;

export type ConnectAgent = (path: string) => Socket;

/**
 * spawn's end of the agent channels: for each AgentOpen, a connection to the agent socket sshd
 * made for this session (SSH_AUTH_SOCK, the client's forwarded agent), relayed both ways with
 * backpressure. Nothing is opened without the daemon's AgentOpen, and nothing but that socket.
 */
export class SpawnAgentRelay {
  private readonly streams: MuxedStreams;

  constructor(
    private readonly socketPath: string | null,
    private readonly daemon: Socket,
    valve: Valve,
    private readonly connectAgent: ConnectAgent = (path) => connect(path),
  ) {
    const wire = { data: agentDataParts, close: (id: number) => encodeAgentControl(FrameType.AgentClose, id) };
    this.streams = new MuxedStreams({ sink: daemon, gate: new DrainGate(daemon), valve }, wire, MAX_AGENT_CONNECTIONS, undefined, "agent");
  }

  /** An agent frame from the daemon. Throws on a malformed one (the session ends as broken). */
  take(frame: Frame): void {
    const { id, data } = parseAgentFrame(frame.type as AgentFrameType, frame.payload);
    switch (frame.type) {
      case FrameType.AgentOpen:
        this.open(id);
        return;
      case FrameType.AgentData:
        this.streams.deliver(id, data);
        return;
      case FrameType.AgentClose:
        this.streams.farClose(id);
        return;
    }
  }

  closeAll(): void {
    this.streams.closeAll();
  }

  private open(id: number): void {
    if (this.streams.has(id)) return;
    const refuse = (): void => void (this.daemon.destroyed ? undefined : this.daemon.write(encodeAgentControl(FrameType.AgentClose, id)));
    if (this.socketPath === null || this.streams.size >= MAX_AGENT_CONNECTIONS) return refuse();
    const conn = this.connectAgent(this.socketPath);
    if (!this.streams.add(id, conn)) {
      conn.destroy();
      refuse();
    }
  }
}

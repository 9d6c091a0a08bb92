import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { agentDataParts, encodeAgentControl, parseAgentFrame, type AgentFrameType } from "../../core/protocol/agent-frames.js";
import { FrameType, type Frame } from "../../core/protocol/frames.js";
import { agentSocketName } from "../../core/container/agent-socket.js";
import type { ContainerListener, ContainerSockets, SocketOwner } from "../../core/ports/container-sockets.js";
import { MuxedStreams, type MuxLink } from "../../support/muxed-streams.js";

/**
 * Agent connections one session carries at once. ssh and git open one each and close it when
 * done; more than this at once is a storm, and the extra ones are closed at once (the client sees
 * its agent fail, the session goes on).
 */
export const MAX_AGENT_CONNECTIONS = 8;

const wire = {
  data: (id: number, chunk: Buffer): Buffer[] => agentDataParts(id, chunk),
  close: (id: number): Buffer => encodeAgentControl(FrameType.AgentClose, id),
};

/**
 * The session's forwarded ssh agent: a socket inside the user's container, and for each process
 * there that connects, one agent channel over the session to spawn, which relays it to the
 * client's own agent (sshd's SSH_AUTH_SOCK). The daemon never opens a host path for it. Ends
 * with its session (`close`), taking every connection and the socket with it.
 */
export class AgentChannel {
  private readonly streams: MuxedStreams;
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly listener: ContainerListener,
    link: MuxLink,
    onActivity: () => void = () => undefined,
    readonly limit = MAX_AGENT_CONNECTIONS,
  ) {
    this.streams = new MuxedStreams(link, wire, limit, onActivity, "agent");
    listener.onConnection((conn) => this.accept(conn, link));
  }

  /** Where processes in the container find the agent (their SSH_AUTH_SOCK). */
  get path(): string {
    return this.listener.path;
  }

  /** Connections open now. */
  get open(): number {
    return this.streams.size;
  }

  /** An agent frame from the client: data for a connection, or the client's end of one closing. */
  fromClient(frame: Frame): void {
    if (this.closed) return;
    const { id, data } = parseAgentFrame(frame.type as AgentFrameType, frame.payload);
    if (frame.type === FrameType.AgentData) this.streams.deliver(id, data);
    else if (frame.type === FrameType.AgentClose) this.streams.farClose(id);
    // AgentOpen only ever goes to the client; one coming back is ignored.
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener.close();
    this.streams.closeAll();
  }

  private accept(conn: Duplex, link: MuxLink): void {
    const id = this.nextId++;
    if (this.closed || link.sink.destroyed || !this.streams.add(id, conn)) {
      conn.destroy();
      return;
    }
    link.sink.write(encodeAgentControl(FrameType.AgentOpen, id));
  }
}

/** The session's agent socket in the container, named after the session. */
export async function openAgentChannel(sockets: ContainerSockets, containerId: string, sessionId: number, owner: SocketOwner, link: MuxLink, onActivity?: () => void): Promise<AgentChannel> {
  const listener = await sockets.listen(containerId, agentSocketName(sessionId, randomBytes(8).toString("hex")), owner);
  return new AgentChannel(listener, link, onActivity);
}

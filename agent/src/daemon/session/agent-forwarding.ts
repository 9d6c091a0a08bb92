import { describeError } from "../../core/errors.js";
import type { ContainerAccount } from "../../core/container/exec-plan.js";
import { SocketUnavailable, type ContainerSockets } from "../../core/ports/container-sockets.js";
import type { Logger } from "../log.js";
import { openAgentChannel } from "./agent-channel.js";
import type { SessionHandle } from "./session-handle.js";

export const AGENT_UNAVAILABLE_LINE = "agent forwarding is not available in this environment; the session goes on without it";

export interface AgentDeps {
  readonly sockets?: ContainerSockets;
  readonly log?: Logger;
}

/**
 * The client asked for its agent (ssh -A): the session's agent socket in the container, or null
 * when this container cannot have one. A session never fails for want of an agent: the user reads
 * one line, the admin the reason.
 */
export async function forwardAgent(session: SessionHandle, containerId: string, account: ContainerAccount, deps: AgentDeps): Promise<string | null> {
  try {
    if (!deps.sockets) throw new SocketUnavailable("this daemon was started without container sockets");
    const agent = await openAgentChannel(deps.sockets, containerId, session.id, { uid: account.uid, gid: account.gid }, session.mux, () => session.touch());
    return session.useAgent(agent) ? agent.path : null;
  } catch (err) {
    deps.log?.({ kind: "warning", message: `session ${session.id} for ${session.user}: no agent socket: ${describeError(err)}` });
    session.notice(AGENT_UNAVAILABLE_LINE);
    return null;
  }
}

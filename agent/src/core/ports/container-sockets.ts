import type { Duplex } from "node:stream";

/** Who owns a socket made inside a container (the pod user's container uid/gid). */
export interface SocketOwner {
  readonly uid: number;
  readonly gid: number;
}

/** A unix socket inside a container that the daemon accepts on. */
export interface ContainerListener {
  /** The socket's path as processes in the container see it. */
  readonly path: string;
  /** Called for each connection a process in the container makes. */
  onConnection(handler: (conn: Duplex) => void): void;
  /** Stop accepting and remove the socket file; connections already made are the caller's. */
  close(): void;
}

/**
 * The daemon's port for listening inside a running container. The Docker adapter binds through
 * /proc/<init pid>/root; the fake binds in a temporary directory. Both pass test/conformance.
 */
export interface ContainerSockets {
  /**
   * A socket named `name` in AGENT_SOCKET_DIR of the container, owned by `owner`, mode 0600.
   * Rejects with AgentSocketUnavailable when this container cannot have one (gVisor, an unsafe
   * directory, a stopped container).
   */
  listen(containerId: string, name: string, owner: SocketOwner): Promise<ContainerListener>;
}

/** The container cannot hold a socket of ours: the session goes on without one. */
export class SocketUnavailable extends Error {
  override readonly name = "SocketUnavailable";
}

import type { Socket } from "node:net";
import { describeError, UserFacingError } from "../../core/errors.js";
import { FrameType } from "../../core/protocol/frames.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import { dialTcp, type Dial } from "../../adapters/net/tcp-relay.js";
import type { Channel, ChannelEnd, ChannelFacts, ChannelOutput } from "./channel.js";

/** How long a tunnel waits for the container's port to accept before saying nothing listens. */
export const TUNNEL_CONNECT_TIMEOUT_MS = 5000;

/** Nothing accepted a connection on the port: the user's one line, and the audit's reason. */
export class TunnelRefused extends Error {
  override readonly name = "TunnelRefused";
  constructor(
    readonly port: number,
    readonly reason: string,
  ) {
    super(`port ${port}: ${reason}`);
  }
}

export interface TunnelTarget {
  readonly runtime: ContainerRuntime;
  readonly containerId: string;
  /** The environment's own network (the user's, or a claimed container's own): the only one the address is looked up on. */
  readonly network: string;
  readonly project: string;
  readonly port: number;
}

/**
 * A TCP connection from the daemon (host side) to a port of the user's own container, at the
 * address the engine gave it on the user's own network; the request carried only the port.
 */
export async function openTunnelChannel(target: TunnelTarget, dial: Dial = dialTcp): Promise<Channel> {
  const { runtime, containerId, network, project, port } = target;
  const address = await runtime.containerAddress(containerId, network);
  if (address === null) throw new UserFacingError("no-address", `your ${project} environment has no network address to tunnel to`, `container ${containerId} has no address on ${network}`);
  let conn: Socket;
  try {
    conn = await dial(address, port, TUNNEL_CONNECT_TIMEOUT_MS);
  } catch (err) {
    throw new TunnelRefused(port, describeError(err));
  }
  return new TunnelChannel(conn, port);
}

class TunnelChannel implements Channel {
  readonly facts: ChannelFacts;
  readonly outputs: readonly ChannelOutput[];
  readonly finished: Promise<ChannelEnd>;

  constructor(
    readonly input: Socket,
    port: number,
  ) {
    this.facts = { kind: "tunnel", tty: false, port };
    this.outputs = [{ frame: FrameType.Stdout, stream: input }];
    this.finished = new Promise((resolve) => {
      let broken: string | undefined;
      input.on("error", (err: NodeJS.ErrnoException) => (broken ??= err.code ?? err.message));
      const done = (): void => resolve(broken === undefined ? { code: 0 } : { code: 1, broken });
      // The service has finished sending: like a process's exit, that ends the session (the client
      // cannot see an EOF on its stdout except by exiting), so close our half too.
      input.once("end", () => {
        input.end();
        done();
      });
      input.once("close", done);
    });
  }

  hangUp(): void {
    this.input.destroy();
  }
}

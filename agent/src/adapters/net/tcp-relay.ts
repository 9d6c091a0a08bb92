import { connect, type Socket } from "node:net";

/**
 * The byte pipe behind `podspawn connect`: a TCP connection to a node, relayed to and from the
 * ProxyCommand's stdin/stdout.
 *
 * Half-close: EOF on stdin sends FIN to the node and the node's output keeps flowing until it
 * finishes. The node's FIN ends the whole relay: a ProxyCommand cannot hand ssh an EOF except by
 * exiting (stdout stays open as long as the process lives), and an SSH server that has finished
 * sending has finished the session, so waiting for stdin then would leave ssh hanging.
 */

export type Dial = (host: string, port: number, timeoutMs: number) => Promise<Socket>;
export type OpenSocket = (host: string, port: number) => Socket;

const openTcp: OpenSocket = (host, port) => connect({ host, port, allowHalfOpen: true });

/** A Dial that fails after `timeoutMs` without a connection; errors carry the errno code. */
export function makeDial(open: OpenSocket = openTcp): Dial {
  return (host, port, timeoutMs) =>
    new Promise((resolve, reject) => {
      const socket = open(host, port);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(socket);
      });
      // Stays attached for the socket's life: an error before the relay listens must not crash.
      socket.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(err.code ?? err.message));
      });
    });
}

export const dialTcp: Dial = makeDial();

export interface RelayResult {
  /** Bytes from input to the socket, and from the socket to output. */
  readonly sent: number;
  readonly received: number;
  /** Why the relay ended early, if it did (socket reset, output closed). */
  readonly error?: string;
}

export function relay(socket: Socket, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<RelayResult> {
  return new Promise((resolve) => {
    let sent = 0;
    let received = 0;
    let error: string | undefined;
    let finished = false;

    const finish = (): void => {
      if (finished) return;
      finished = true;
      input.unpipe(socket);
      input.pause();
      // Hand over what is buffered before reporting: the caller may exit the process next.
      output.write("", () => resolve(error === undefined ? { sent, received } : { sent, received, error }));
    };

    input.on("data", (chunk: Buffer) => (sent += chunk.length));
    socket.on("data", (chunk: Buffer) => (received += chunk.length));
    // stdin EOF -> end() on the socket: a FIN; the node may still send.
    input.pipe(socket, { end: true });
    // The output (stdout) is never ended here: the process exit closes it.
    socket.pipe(output, { end: false });
    // The node has finished: close our side too (after pending writes), see the header.
    socket.on("end", () => {
      input.unpipe(socket);
      socket.end();
    });

    socket.on("error", (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    output.on("error", (err: NodeJS.ErrnoException) => {
      error ??= `output: ${err.code ?? err.message}`;
      socket.destroy();
    });
    input.on("error", (err: NodeJS.ErrnoException) => {
      error ??= `input: ${err.code ?? err.message}`;
      socket.destroy();
    });
    socket.on("close", finish);
  });
}

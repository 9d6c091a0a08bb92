import type { Socket } from "node:net";
import { firstLine, MAX_BANNER_BYTES } from "../../core/fleet/ssh-banner.js";

export interface Banner {
  /** The server's first line, without CR/LF. */
  readonly line: string;
  /** Every byte read so far (the line and whatever followed it): the relay sends these first. */
  readonly head: Buffer;
}

/**
 * Reads the node's first line, then leaves the socket paused with nothing lost, so the caller can
 * either relay (starting with `head`) or close it and try another node. Fails on a close, an
 * error, `maxBytes` without a newline, or no line within `timeoutMs` (a node that accepts TCP but
 * does not speak, as a wedged or overloaded sshd does, is as good as down).
 */
export function readBanner(socket: Socket, timeoutMs: number, maxBytes = MAX_BANNER_BYTES): Promise<Banner> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const done = (err: Error | null, banner?: Banner): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.pause();
      if (err) reject(err);
      else resolve(banner as Banner);
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const line = firstLine(head);
      if (line !== null) done(null, { line, head });
      else if (head.length > maxBytes) done(new Error(`sent ${head.length} bytes without an SSH banner line`));
    };
    const onEnd = (): void => done(new Error("closed the connection before its SSH banner"));
    const onError = (err: NodeJS.ErrnoException): void => done(new Error(err.code ?? err.message));
    const timer = setTimeout(() => done(new Error(`no SSH banner within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onError);
    socket.resume();
  });
}

import { connect } from "node:net";
import { UserFacingError } from "../../core/errors.js";
import { formatControlLine, MAX_CONTROL_LINE, parseControlResponse, type ControlRequest, type ResponseFor } from "../../core/protocol/control-protocol.js";
import type { Layout } from "../../core/host/layout.js";

/**
 * One request to the node daemon over its root-only control socket. Returns null when no daemon
 * is running (socket missing or refused): callers treat that as "nothing to notify", since the
 * daemon reads the registry when it starts. Any other failure throws.
 */
export function sendControl<R extends ControlRequest>(layout: Layout, request: R, timeoutMs = 2000): Promise<ResponseFor<R> | null> {
  return sendControlTo(layout.controlSocket, request, timeoutMs);
}

export function sendControlTo<R extends ControlRequest>(socketPath: string, request: R, timeoutMs = 2000): Promise<ResponseFor<R> | null> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = "";
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new UserFacingError("daemon-timeout", `the daemon did not answer ${request.op} within ${timeoutMs} ms`, socketPath))),
      timeoutMs,
    );
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(formatControlLine(request)));
    sock.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        finish(() => {
          try {
            resolve(parseControlResponse(request, line));
          } catch (err) {
            reject(new UserFacingError("daemon-protocol", `the daemon sent a malformed answer to ${request.op}: ${(err as Error).message}`, line.slice(0, 200)));
          }
        });
      } else if (buf.length > MAX_CONTROL_LINE) {
        finish(() => reject(new UserFacingError("daemon-protocol", `the daemon's answer to ${request.op} is too long`)));
      }
    });
    sock.on("end", () => finish(() => reject(new UserFacingError("daemon-protocol", `the daemon closed the connection without answering ${request.op}`))));
    sock.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") finish(() => resolve(null));
      else finish(() => reject(new UserFacingError("daemon-unreachable", `cannot reach the daemon at ${socketPath}: ${err.message}`)));
    });
  });
}

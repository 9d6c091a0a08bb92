import type { Socket } from "node:net";
import { dataFrameParts, encodeFrame, FrameType } from "../core/protocol/frames.js";
import { DrainGate, writeParts } from "../support/backpressure.js";

/**
 * The user's stdin to the daemon as STDIN frames, then STDIN_EOF. While the daemon is slow, stdin
 * is paused (sshd then stops reading from the network): one drain wait per stall. Returns the stop.
 */
export function relayStdin(stdin: NodeJS.ReadStream, socket: Socket): () => void {
  const gate = new DrainGate(socket);
  const onData = (chunk: Buffer): void => {
    if (socket.destroyed) return;
    gate.afterWrite(writeParts(socket, dataFrameParts(FrameType.Stdin, chunk)), stdin);
  };
  const onEnd = (): void => {
    if (!socket.destroyed) socket.write(encodeFrame(FrameType.StdinEof));
  };
  const onError = (): void => undefined;
  stdin.on("data", onData);
  stdin.on("end", onEnd);
  stdin.on("error", onError);
  return () => {
    stdin.off("data", onData);
    stdin.off("end", onEnd);
    gate.release();
  };
}

import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import { FrameDecoder, FrameType, type Frame } from "../core/protocol/frames.js";
import { DrainGate, Valve } from "../support/backpressure.js";
import { SPAWN_FAILURE } from "./io.js";

/** How the daemon ended the session: its EXIT status, or its one-line ERROR. */
export type DaemonVerdict = { readonly kind: "exit"; readonly code: number } | { readonly kind: "refused"; readonly message: string };

export interface FrameSinks {
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** INFO (progress) is for a person at a terminal; scripts get byte-exact stderr. */
  readonly showInfo: boolean;
  /** Agent frames (agent-relay.ts); throws on a malformed one. @default dropped */
  readonly agent?: (frame: Frame) => void;
  /** STDIO_MODE: whether the daemon relays our stdio (`relay`) or the process has our pipes. */
  readonly onStdioMode?: (mode: string) => void;
}

/**
 * Frames from the daemon onto the user's stdout and stderr. A slow stdout or stderr stops reading
 * the daemon's socket (one drain wait per stall and stream, however many frames one read holds),
 * so the daemon's own backpressure pauses the process in the container.
 */
export class DaemonFrames {
  private readonly decoder = new FrameDecoder();
  /** Reading the daemon's socket: every source of backpressure on it holds this one valve. */
  readonly valve: Valve;
  private readonly stdoutGate: DrainGate;
  private readonly stderrGate: DrainGate;
  private over = false;

  constructor(
    socket: Socket,
    private readonly sinks: FrameSinks,
    private readonly onVerdict: (verdict: DaemonVerdict) => void,
    private readonly onBroken: (reason: string) => void,
  ) {
    this.valve = new Valve(socket);
    this.stdoutGate = new DrainGate(sinks.stdout);
    this.stderrGate = new DrainGate(sinks.stderr);
  }

  push(chunk: Buffer): void {
    if (this.over) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.over = true;
      this.onBroken(String((err as Error).message));
      return;
    }
    // One read often ends one frame and starts the next: corked, their pieces leave in one writev.
    const { stdout, stderr } = this.sinks;
    stdout.cork();
    stderr.cork();
    try {
      for (const frame of frames) {
        if (this.over) return;
        const verdict = this.dispatch(frame);
        if (verdict) {
          this.over = true;
          this.onVerdict(verdict);
          return;
        }
      }
    } finally {
      stdout.uncork();
      stderr.uncork();
    }
  }

  private dispatch(frame: Frame): DaemonVerdict | null {
    switch (frame.type) {
      case FrameType.Stdout:
        this.stdoutGate.afterWrite(this.sinks.stdout.write(frame.payload), this.valve.handle("stdout"));
        return null;
      case FrameType.Stderr:
        this.stderrGate.afterWrite(this.sinks.stderr.write(frame.payload), this.valve.handle("stderr"));
        return null;
      case FrameType.Info:
        if (this.sinks.showInfo) this.stderrGate.afterWrite(this.sinks.stderr.write(frame.payload), this.valve.handle("stderr"));
        return null;
      case FrameType.Progress:
        this.stderrGate.afterWrite(this.sinks.stderr.write(`podspawn: ${frame.payload.toString("utf8")}\n`), this.valve.handle("stderr"));
        return null;
      case FrameType.StdioMode:
        this.sinks.onStdioMode?.(frame.payload.toString("utf8"));
        return null;
      case FrameType.Error:
        return { kind: "refused", message: errorMessageOf(frame.payload) };
      case FrameType.Exit:
        return { kind: "exit", code: exitCodeOf(frame.payload) };
      case FrameType.AgentOpen:
      case FrameType.AgentData:
      case FrameType.AgentClose:
        this.agentFrame(frame);
        return null;
      default:
        return null;
    }
  }

  private agentFrame(frame: Frame): void {
    try {
      this.sinks.agent?.(frame);
    } catch (err) {
      this.over = true;
      this.onBroken(String((err as Error).message));
    }
  }
}

function errorMessageOf(payload: Buffer): string {
  const fallback = "the session could not start";
  try {
    return String((JSON.parse(payload.toString("utf8")) as { message?: unknown }).message ?? fallback);
  } catch {
    return fallback;
  }
}

function exitCodeOf(payload: Buffer): number {
  try {
    const c = (JSON.parse(payload.toString("utf8")) as { code?: unknown }).code;
    if (typeof c === "number" && Number.isInteger(c) && c >= 0 && c <= 255) return c;
  } catch {
    /* keep failure */
  }
  return SPAWN_FAILURE;
}

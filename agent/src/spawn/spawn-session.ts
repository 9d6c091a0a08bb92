import type { Socket } from "node:net";
import { encodeFrame, FrameType, STDIO_RELAY, type Frame } from "../core/protocol/frames.js";
import { SpawnAgentRelay, type ConnectAgent } from "./agent-relay.js";
import { DaemonFrames, type DaemonVerdict } from "./daemon-frames.js";
import { agentSocketOf, type Hello } from "./hello.js";
import { say, SPAWN_FAILURE, type SpawnIo } from "./io.js";
import { watchParent } from "./parent-watch.js";
import { HANGUP_SIGNALS, onResize, onSignals, type HangupSignal } from "./signals.js";
import { relayStdin } from "./stdin-relay.js";

/** How our side of a session ends; the first one decides, except that a hangup cuts a flush short. */
export type SpawnOutcome =
  | DaemonVerdict
  /** sshd's side went (signal, parent gone, stdout broken): tell the daemon, leave at once. */
  | { readonly kind: "hangup"; readonly signal: HangupSignal }
  /** The connection to the daemon failed or closed early: one line, 255. */
  | { readonly kind: "lost"; readonly message: string };

export interface SpawnSessionOptions {
  /** How often to look for a dead parent. @default 500 ms */
  readonly parentWatchMs?: number;
  /** How an agent channel reaches the client's agent. @default a unix-socket connect */
  readonly connectAgent?: ConnectAgent;
}

/**
 * One session from spawn's side: relays the user's stdio to and from the daemon's socket and ends
 * exactly once, through `end()`. After EXIT or ERROR only our own output is left to flush; the
 * daemon closes its end right after those frames, so that close is the normal end then.
 */
export class SpawnSession {
  private phase: "relaying" | "flushing" | "done" = "relaying";
  private modeSeen = false;
  private readonly stops: Array<() => void> = [];
  private resolveExit: (code: number) => void = () => undefined;
  private readonly exitCode = new Promise<number>((resolve) => (this.resolveExit = resolve));

  constructor(
    private readonly io: SpawnIo,
    private readonly hello: Hello,
    private readonly socket: Socket,
    private readonly options: SpawnSessionOptions = {},
  ) {}

  /** Relay until the session ends; resolves with the status to leave with. */
  run(): Promise<number> {
    const { io, socket } = this;
    this.stops.push(watchParent(() => this.end({ kind: "hangup", signal: "SIGHUP" }), this.options.parentWatchMs));
    this.stops.push(onSignals({ hangup: (signal) => this.end({ kind: "hangup", signal }), ...(this.hello.tty ? {} : { interrupt: () => this.sendSignal("SIGINT") }) }));
    const stdoutBroken = (): void => this.end({ kind: "hangup", signal: "SIGHUP" });
    io.stdout.on("error", stdoutBroken);
    io.stderr.on("error", () => undefined);
    this.stops.push(() => io.stdout.off("error", stdoutBroken));
    const diagnose = io.diagnose ?? (() => undefined);
    const broken = (reason: string): void => {
      diagnose(`broken frame from the daemon: ${reason}`);
      this.end({ kind: "lost", message: "the session service sent a broken frame" });
    };
    let agent: SpawnAgentRelay | null = null;
    const sinks = { stdout: io.stdout, stderr: io.stderr, showInfo: this.hello.tty, agent: (f: Frame) => agent?.take(f), onStdioMode: (mode: string) => this.stdioMode(mode) };
    const frames = new DaemonFrames(socket, sinks, (v) => this.end(v), broken);
    agent = new SpawnAgentRelay(agentSocketOf(io.env), socket, frames.valve, this.options.connectAgent);
    this.stops.push(() => agent?.closeAll());
    socket.on("connect", () => this.connected());
    socket.on("data", (chunk: Buffer) => frames.push(chunk));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      diagnose(`daemon connection: ${err.message}`);
      this.end({ kind: "lost", message: lostMessage(err) });
    });
    socket.on("close", () => this.end({ kind: "lost", message: "the session service closed the connection" }));
    return this.exitCode;
  }

  /** The only way the session ends. */
  end(outcome: SpawnOutcome): void {
    if (this.phase === "done" || (this.phase === "flushing" && outcome.kind !== "hangup")) return;
    switch (outcome.kind) {
      case "hangup":
        this.sendSignal(outcome.signal);
        this.finish(128 + HANGUP_SIGNALS[outcome.signal]);
        return;
      case "lost":
        say(this.io.stderr, outcome.message);
        this.finish(SPAWN_FAILURE);
        return;
      case "refused":
        say(this.io.stderr, outcome.message);
        this.flushThenFinish(SPAWN_FAILURE);
        return;
      case "exit":
        this.flushThenFinish(outcome.code);
        return;
    }
  }

  private connected(): void {
    const { io, socket } = this;
    socket.write(encodeFrame(FrameType.Hello, this.hello.json));
    if (this.hello.tty) {
      io.stdin.setRawMode(true);
      this.stops.push(onResize(io.stdout, () => this.send(FrameType.Resize, JSON.stringify({ cols: io.stdout.columns, rows: io.stdout.rows }))));
    }
    // Offered pipes: the daemon may give them to the process itself, and a byte we read from
    // stdin would be a byte it never sees. So nothing is read until the daemon says `relay`.
    if (!this.hello.offersPipes) this.stops.push(relayStdin(io.stdin, socket));
  }

  /** The daemon's answer to our offer, once: `relay` starts the stdin relay; `direct` reads nothing. */
  private stdioMode(mode: string): void {
    if (!this.hello.offersPipes || this.modeSeen || this.phase === "done") return;
    this.modeSeen = true;
    if (mode === STDIO_RELAY) this.stops.push(relayStdin(this.io.stdin, this.socket));
  }

  private send(type: typeof FrameType.Signal | typeof FrameType.Resize, payload: string): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(type, payload));
  }

  private sendSignal(signal: NodeJS.Signals): void {
    this.send(FrameType.Signal, signal);
  }

  /** A slow reader still gets the tail of the output before we leave. */
  private flushThenFinish(code: number): void {
    this.phase = "flushing";
    this.io.stdout.write("", () => this.io.stderr.write("", () => this.finish(code)));
  }

  private finish(code: number): void {
    if (this.phase === "done") return;
    this.phase = "done";
    for (const stop of this.stops.splice(0)) stop();
    if (this.hello.tty && this.io.stdin.isTTY) this.io.stdin.setRawMode(false);
    this.io.stdin.pause();
    this.socket.destroy();
    this.resolveExit(code);
  }
}

function lostMessage(err: NodeJS.ErrnoException): string {
  if (err.code === "ENOENT" || err.code === "ECONNREFUSED") return "the session service (podspawnd) is not running on this node; try again shortly or tell the node's admin";
  if (err.code === "EACCES") return "this account may not use the session service on this node";
  return `lost the connection to the session service (${err.code ?? err.message})`;
}

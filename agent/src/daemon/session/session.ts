import type { Socket } from "node:net";
import { errorCodeOf, InputError } from "../../core/errors.js";
import { FrameType, STDIO_DIRECT, STDIO_RELAY } from "../../core/protocol/frames.js";
import type { NodeConfig } from "../../core/config/node-config.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import type { ContainerSockets } from "../../core/ports/container-sockets.js";
import type { AgentChannel } from "./agent-channel.js";
import type { Dial } from "../../adapters/net/tcp-relay.js";
import type { Environments } from "../environments/environments.js";
import type { EnvironmentPlanner } from "../projects/planner.js";
import type { Logger } from "../log.js";
import type { Channel } from "./channel.js";
import { ClientInput } from "./client-input.js";
import { ClientLink } from "./client-link.js";
import { watchIdle, type IdleWatch } from "./idle-watch.js";
import type { WatchExit } from "./exit-notice.js";
import { adminDetailOf, endReason, finalFrame, noticeText, userMessageOf, type SessionOutcome } from "./outcome.js";
import { sessionReporter, type AuditRecord, type SessionReporter } from "./session-events.js";
import { startSession } from "./start-session.js";
import type { InnerSshd } from "./inner-sshd-channel.js";
import type { SetupOutput } from "../environments/setup-runner.js";
import type { SessionHandle } from "./session-handle.js";
import type { DirectIo } from "../direct-io/direct-io.js";

export interface SessionDeps {
  readonly runtime: ContainerRuntime;
  readonly environments: Environments;
  /** What each (user, project) environment is, its image built when needed. */
  readonly planner: EnvironmentPlanner;
  readonly config: () => NodeConfig;
  readonly log: Logger;
  readonly audit: (record: AuditRecord) => void;
  /** Resolves when the node's egress firewall is in place, else throws the refusal (fail closed). */
  readonly egress: () => Promise<void>;
  /** The idle timeout's and the lifetime warning's clock. @default Date.now */
  readonly now?: () => number;
  /** Explains an exit the status cannot (OOM kill, engine gone). @default none */
  readonly watchExit?: WatchExit;
  /** How a tunnel connects into the container. @default a TCP connect with a timeout */
  readonly dial?: Dial;
  /** The IDE mode (`podspawn-sshd`). @default absent */
  readonly innerSshd?: InnerSshd;
  /** Where a forwarded agent's socket is made in the container. @default none: no agent forwarding */
  readonly sockets?: ContainerSockets;
  /** The direct stdio path. @default absent: every session takes the engine path */
  readonly directIo?: DirectIo;
}

export type SessionPhase = "greeting" | "starting" | "running" | "ended";

interface SessionParts {
  readonly report: SessionReporter;
  readonly idleMs: () => number;
  readonly now?: () => number;
  readonly start: (session: Session, hello: Buffer) => Promise<void>;
}

let nextSessionId = 1;

/**
 * spawn sends HELLO as soon as it is connected; a connection without one by then is not a session
 * (a stuck or foreign client) and must not hold a socket and its memory for ever.
 */
export const HELLO_TIMEOUT_MS = 10_000;

/**
 * One spawn connection = one session. The user is the one whose socket accepted the connection
 * (the OS decided who may connect), never anything the client says. It ends exactly once, in
 * `end()`, whatever comes first (exit, disconnect, idle, an error): the environment is given back
 * once, so a kill -9'd spawn leaks nothing.
 */
export class Session implements SessionHandle {
  readonly id = nextSessionId++;
  readonly input: ClientInput;
  private phaseNow: SessionPhase = "greeting";
  private projectName = "";
  private key: string | null = null;
  private channel: Channel | null = null;
  private release: (() => void) | null = null;
  private idle: IdleWatch | null = null;
  private agent: AgentChannel | null = null;
  private stdioOffered = false;
  private readonly helloTimer: NodeJS.Timeout;

  constructor(
    private readonly link: ClientLink,
    readonly user: string,
    private readonly parts: SessionParts,
  ) {
    this.input = new ClientInput(link.valve, {
      hello: (payload) => this.greet(payload),
      protocolError: (err) => this.fail(err),
      activity: () => this.idle?.touch(),
      agent: (frame) => this.agent?.fromClient(frame),
    });
    this.helloTimer = setTimeout(() => this.fail(new InputError("hello", `none within ${HELLO_TIMEOUT_MS / 1000} s of connecting`)), HELLO_TIMEOUT_MS);
    this.helloTimer.unref();
  }

  get phase(): SessionPhase {
    return this.phaseNow;
  }

  get project(): string {
    return this.projectName;
  }

  /**
   * The request is valid: who and what this session is about. `stdioOffered`: the client offered
   * its pipes and reads no stdin until it is told which path the session takes (at attach).
   */
  begin(project: string, key: string | null, stdioOffered = false): void {
    this.projectName = project;
    this.key = key;
    this.stdioOffered = stdioOffered;
  }

  /** Progress for a terminal (spawn shows INFO on a TTY only, so scripts stay byte-exact). */
  info(text: string): void {
    if (this.phaseNow !== "ended") this.link.send(FrameType.Info, text);
  }

  /** One of our lines on the user's stderr (shown with and without a terminal; stdout stays clean). */
  notice(line: string): void {
    if (this.phaseNow !== "ended") this.link.send(FrameType.Stderr, noticeText(line));
  }

  /** A line for the user's stderr even without a terminal (build progress); spawn adds `podspawn: `. */
  progress(line: string): void {
    if (this.phaseNow !== "ended") this.link.send(FrameType.Progress, line);
  }

  /**
   * Where a setup step's output goes: our line as PROGRESS, the step's bytes as stderr frames
   * with the link's backpressure (a hook that writes fast waits for a slow client). Once the
   * session has ended the bytes are read and dropped, so the step still finishes.
   */
  setupOutput(): SetupOutput {
    return { line: (text) => this.progress(text), relay: (stream) => this.link.relay({ frame: FrameType.Stderr, stream }, () => undefined) };
  }

  /** The environment is held for this session; given back at once if the session ended meanwhile. */
  hold(release: () => void): boolean {
    if (this.phaseNow === "ended") {
      release();
      return false;
    }
    this.release = release;
    return true;
  }

  /** The client's agent, relayed into the container; closed at once if the session ended meanwhile. */
  useAgent(agent: AgentChannel): boolean {
    if (this.phaseNow === "ended") {
      agent.close();
      return false;
    }
    this.agent = agent;
    return true;
  }

  /** The link's socket, gate and valve, for the agent channel's connections. */
  get mux(): ClientLink["mux"] {
    return this.link.mux;
  }

  /** Input or output on a side channel (the agent): the idle timeout starts over. */
  touch(): void {
    this.idle?.touch();
  }

  /** The channel is open: relay it until it finishes. Hung up at once if the session ended meanwhile. */
  attach(channel: Channel): boolean {
    if (this.phaseNow !== "ended" && this.link.gone) this.end({ kind: "disconnected" });
    if (this.phaseNow === "ended") {
      channel.hangUp();
      return false;
    }
    this.channel = channel;
    this.phaseNow = "running";
    // Before any output frame: a client that offered its pipes waits for this to read stdin.
    if (this.stdioOffered) this.link.send(FrameType.StdioMode, channel.facts.stdio === "direct" ? STDIO_DIRECT : STDIO_RELAY);
    this.parts.report({ type: "started", session: this.id, user: this.user, project: this.projectName, key: this.key, ...channel.facts });
    const idleMs = this.parts.idleMs();
    this.idle = watchIdle(idleMs, () => this.end({ kind: "idle-timeout", idleMs }), this.parts.now, channel.activity?.bind(channel));
    void this.relayUntilFinished(channel);
    this.input.attach(channel);
    return true;
  }

  /** A tunnel's port had nobody listening: audited, and the user told in one line. */
  refuseTunnel(port: number, reason: string): void {
    if (this.phaseNow === "ended") return;
    this.parts.report({ type: "tunnel-refused", session: this.id, user: this.user, project: this.projectName, port, reason });
    this.end({ kind: "error", message: `nothing is listening on port ${port} in your ${this.projectName} environment` });
  }

  /** Anything thrown while starting or running: one line for the user, the detail for the admin. */
  fail(err: unknown): void {
    const detail = adminDetailOf(err);
    if (detail !== null) this.parts.report({ type: "failed", session: this.id, user: this.user, code: errorCodeOf(err), detail });
    this.end({ kind: "error", message: userMessageOf(err) });
  }

  /** The only way a session ends; every effect of the end happens here, once. */
  end(outcome: SessionOutcome): void {
    if (this.phaseNow === "ended") return;
    const started = this.phaseNow === "running";
    this.phaseNow = "ended";
    clearTimeout(this.helloTimer);
    this.idle?.stop();
    this.input.stop();
    this.agent?.close();
    if (outcome.kind !== "exited") this.channel?.hangUp();
    if (outcome.kind === "exited" && outcome.notice) this.link.send(FrameType.Stderr, noticeText(outcome.notice));
    const last = finalFrame(outcome);
    if (last) this.link.send(last.type, last.payload);
    this.link.close();
    this.release?.();
    this.release = null;
    if (started) {
      this.parts.report({ type: "ended", session: this.id, user: this.user, project: this.projectName, exitCode: outcome.kind === "exited" ? outcome.code : null, reason: endReason(outcome, started) });
    }
  }

  private greet(hello: Buffer): void {
    clearTimeout(this.helloTimer);
    this.phaseNow = "starting";
    this.parts.start(this, hello).catch((err: unknown) => this.fail(err));
  }

  /** Exit status after the last output byte: the far end finished and every output has ended. */
  private async relayUntilFinished(channel: Channel): Promise<void> {
    const relayed = Promise.all(channel.outputs.map((o) => this.link.relay(o, () => this.idle?.touch())));
    try {
      const [end] = await Promise.all([channel.finished, relayed]);
      this.end({ kind: "exited", code: end.code, ...(end.broken === undefined ? {} : { broken: end.broken }), ...(end.notice === undefined ? {} : { notice: end.notice }) });
    } catch (err) {
      this.fail(err);
    }
  }
}

/** Serve one accepted spawn connection of `user`. */
export function handleSession(socket: Socket, user: string, deps: SessionDeps): Session {
  const session = new Session(new ClientLink(socket), user, {
    report: sessionReporter(deps.log, deps.audit),
    idleMs: () => deps.config().session.idleTimeoutMs,
    now: deps.now,
    start: (s, hello) => startSession(s, hello, deps),
  });
  socket.on("data", (chunk: Buffer) => session.input.push(chunk));
  socket.on("close", () => session.end({ kind: "disconnected" }));
  socket.on("error", () => socket.destroy());
  return session;
}

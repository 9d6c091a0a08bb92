import type { Socket } from "node:net";
import { describeError, InputError, UserFacingError } from "../../core/errors.js";
import { planExec } from "../../core/container/exec-plan.js";
import { parseTunnelRequest } from "../../core/protocol/tunnel-request.js";
import { dialTcp } from "../../adapters/net/tcp-relay.js";
import { encodeData, encodeFrame, FrameDecoder, FrameType, type Frame } from "../../core/protocol/frames.js";
import { parseResize, parseSessionRequest, parseSignal } from "../../core/protocol/session-request.js";
import type { ContainerRuntime, ExecSession } from "../../core/ports/container-runtime.js";
import type { Environment, Environments } from "../environments/environments.js";
import type { Logger } from "../log.js";
import type { NodeConfig } from "../../core/config/node-config.js";

export interface SessionDeps {
  readonly runtime: ContainerRuntime;
  readonly environments: Environments;
  readonly config: () => NodeConfig;
  readonly log: Logger;
  readonly audit: (record: Record<string, unknown>) => void;
}

let nextSessionId = 1;

/** How long a process gets after SIGHUP before SIGKILL when its client went away. */
const HANGUP_KILL_MS = 2000;

/** How long a tunnel waits for the container's port to accept before saying nothing listens. */
export const TUNNEL_CONNECT_TIMEOUT_MS = 5000;

/**
 * One spawn connection = one session. The user is the one whose socket accepted the connection
 * (the OS decided who may connect), never anything the client says. A session ends when the
 * process exits or when the connection closes, whichever comes first; either way the count drops
 * exactly once, so a kill -9'd spawn leaks nothing.
 */
export function handleSession(socket: Socket, user: string, deps: SessionDeps): void {
  const id = nextSessionId++;
  const decoder = new FrameDecoder();
  let exec: ExecSession | null = null;
  /** For a tunnel (`podspawn-tunnel PORT`): the TCP connection to the user's container instead of a process. */
  let tunnel: Socket | null = null;
  let started = false;
  let finished = false;
  let releaseEnv: (() => void) | null = null;
  const pendingInput: Frame[] = [];
  let project = "";
  let helloSeen = false;

  // Idle = no bytes in either direction; checked on a coarse timer so a busy session costs nothing.
  let lastActivity = Date.now();
  let idleTimer: NodeJS.Timeout | null = null;
  const touch = (): void => {
    lastActivity = Date.now();
  };

  const send = (type: (typeof FrameType)[keyof typeof FrameType], payload?: Buffer | string): boolean => {
    if (socket.destroyed) return false;
    return socket.write(encodeFrame(type, payload));
  };

  const finish = (exitCode: number | null, reason: string): void => {
    if (finished) return;
    finished = true;
    if (idleTimer) clearInterval(idleTimer);
    if (releaseEnv) releaseEnv();
    if (started) {
      deps.log({ kind: "session-end", user, project, sessionId: id, exitCode, reason });
      deps.audit({ event: "session-end", user, project, session: id, exitCode, reason });
    }
  };

  /** The process must not outlive its session: SIGHUP now, SIGKILL if it is still there later. */
  const hangUpProcess = (): void => {
    tunnel?.destroy();
    const e = exec;
    if (!e) return;
    void e.signal("SIGHUP");
    setTimeout(() => void e.signal("SIGKILL"), HANGUP_KILL_MS).unref();
  };

  const fail = (err: unknown): void => {
    if (!finished) hangUpProcess();
    const message = err instanceof InputError || err instanceof UserFacingError ? err.message : "internal error starting the session (the node's admin can see the details in the daemon log)";
    if (!(err instanceof InputError)) {
      const detail = err instanceof UserFacingError ? `${err.message}${err.detail ? `: ${err.detail}` : ""}` : describeError(err);
      deps.log({ kind: "error", message: `session ${id} for ${user} failed`, detail });
    }
    send(FrameType.Error, JSON.stringify({ message }));
    socket.end();
    finish(null, "error");
  };

  const onTunnelInput = (conn: Socket, frame: Frame): void => {
    // Resize and signals mean nothing to a TCP connection.
    if (frame.type === FrameType.Stdin) {
      touch();
      if (conn.writableEnded || conn.destroyed) return;
      if (!conn.write(frame.payload)) {
        socket.pause();
        conn.once("drain", () => socket.resume());
      }
    } else if (frame.type === FrameType.StdinEof) {
      if (!conn.writableEnded) conn.end();
    }
  };

  const onInput = (frame: Frame): void => {
    if (tunnel) {
      onTunnelInput(tunnel, frame);
      return;
    }
    if (!exec) {
      pendingInput.push(frame);
      return;
    }
    switch (frame.type) {
      case FrameType.Stdin:
        touch();
        // Input after EOF is the client's mistake; writing it would throw inside the daemon.
        if (exec.stdin.writableEnded || exec.stdin.destroyed) break;
        if (!exec.stdin.write(frame.payload)) {
          socket.pause();
          exec.stdin.once("drain", () => socket.resume());
        }
        break;
      case FrameType.StdinEof:
        if (!exec.stdin.writableEnded) exec.stdin.end();
        break;
      case FrameType.Resize: {
        const { cols, rows } = parseResize(JSON.parse(frame.payload.toString("utf8")));
        void exec.resize(cols, rows);
        break;
      }
      case FrameType.Signal: {
        const sig = parseSignal(frame.payload.toString("utf8"));
        if (sig) void exec.signal(sig);
        break;
      }
    }
  };

  /** Output to the client with backpressure; resolves when the stream has ended (or broke). */
  const relay = (stream: NodeJS.ReadableStream, type: typeof FrameType.Stdout | typeof FrameType.Stderr): Promise<void> =>
    new Promise((resolve) => {
      stream.on("data", (chunk: Buffer) => {
        touch();
        let ok = true;
        for (const f of encodeData(type, chunk)) ok = (socket.destroyed ? true : socket.write(f)) && ok;
        if (!ok) {
          stream.pause();
          socket.once("drain", () => stream.resume());
        }
      });
      stream.once("end", resolve);
      stream.once("close", resolve);
      stream.once("error", () => resolve());
    });

  const armIdle = (): void => {
    const idleMs = deps.config().session.idleTimeoutMs;
    if (idleMs <= 0) return;
    idleTimer = setInterval(() => {
      if (finished || Date.now() - lastActivity < idleMs) return;
      send(FrameType.Error, JSON.stringify({ message: `session closed after ${Math.round(idleMs / 1000)} s without input or output (the node's idle timeout)` }));
      socket.end();
      hangUpProcess();
      finish(null, "idle-timeout");
    }, Math.min(Math.max(idleMs / 4, 250), 30_000));
    idleTimer.unref();
  };

  /**
   * A tunnel: the daemon (host side) dials the port on the user's own container, at the address
   * the engine gave it on the user's own network; the request carries only the port. It counts as
   * a session, so the container stays while the tunnel is open.
   */
  const startTunnel = async (env: Environment, port: number, key: string | null): Promise<void> => {
    const network = deps.environments.networkOf(user);
    const address = await deps.runtime.containerAddress(env.containerId, network);
    if (address === null) throw new UserFacingError("no-address", `your ${project} environment has no network address to tunnel to`, `container ${env.containerId} has no address on ${network}`);
    let conn: Socket;
    try {
      conn = await dialTcp(address, port, TUNNEL_CONNECT_TIMEOUT_MS);
    } catch (err) {
      if (finished || socket.destroyed) {
        finish(null, "client-gone");
        return;
      }
      deps.audit({ event: "tunnel-refused", user, project, session: id, port, reason: describeError(err) });
      send(FrameType.Error, JSON.stringify({ message: `nothing is listening on port ${port} in your ${project} environment` }));
      socket.end();
      finish(null, "error");
      return;
    }
    if (finished || socket.destroyed) {
      conn.destroy();
      finish(null, "client-gone");
      return;
    }
    tunnel = conn;
    started = true;
    let broken: string | undefined;
    conn.on("error", (err: NodeJS.ErrnoException) => (broken ??= err.code ?? err.message));
    deps.log({ kind: "session-start", user, project, sessionId: id, exec: "tunnel", tty: false, key: key ?? "unknown", port });
    deps.audit({ event: "session-start", user, project, session: id, key, kind: "tunnel", tty: false, port });
    armIdle();
    const drained = relay(conn, FrameType.Stdout);
    for (const f of pendingInput.splice(0)) onInput(f);
    await drained;
    if (finished) return; // the client went, or the idle timeout ended it
    // The service has finished sending: like the exec's exit, that ends the session (the client
    // cannot see an EOF on its stdout except by exiting).
    const code = broken === undefined ? 0 : 1;
    send(FrameType.Exit, JSON.stringify({ code }));
    socket.end();
    conn.end();
    finish(code, broken === undefined ? "exited" : "error");
  };

  const start = async (helloPayload: Buffer): Promise<void> => {
    let hello: unknown;
    try {
      hello = JSON.parse(helloPayload.toString("utf8"));
    } catch {
      throw new InputError("hello", "is not JSON");
    }
    const req = parseSessionRequest(hello);
    project = req.project;
    if (!deps.environments.has(user, req.project)) {
      // A cold start: make sure the engine answers before promising anything.
      await deps.runtime.ping();
      // Shown by spawn on a terminal only (stderr), so scripted sessions stay byte-exact.
      send(FrameType.Info, `podspawn: starting your ${req.project} environment...\r\n`);
    }
    // A warm login pays no ping; when acquiring fails for a reason of ours, the ping says whether
    // the engine is down (its one clear line) instead of a raw connection error.
    const env = await deps.environments.acquire(user, req.project).catch(async (err: unknown) => {
      if (!(err instanceof InputError || err instanceof UserFacingError)) await deps.runtime.ping();
      throw err;
    });
    let released = false;
    releaseEnv = () => {
      if (!released) {
        released = true;
        deps.environments.release(env);
      }
    };
    // The client may have gone while we were creating the container: give the count back now.
    if (finished || socket.destroyed) {
      releaseEnv();
      finish(null, "client-gone");
      return;
    }
    const tunnelPort = parseTunnelRequest(req.command);
    if (tunnelPort !== null) {
      await startTunnel(env, tunnelPort, req.keyFingerprint);
      return;
    }
    if (!env.account) throw new Error("environment has no account");
    const plan = planExec(req, env.account, deps.config().sftpSubsystems);
    exec = await deps.runtime.exec(env.containerId, plan);
    exec.stdin.on("error", () => undefined); // EPIPE once the process has exited: not our error
    started = true;
    deps.log({ kind: "session-start", user, project, sessionId: id, exec: plan.kind, tty: plan.tty, key: req.keyFingerprint ?? "unknown" });
    deps.audit({ event: "session-start", user, project, session: id, key: req.keyFingerprint, kind: plan.kind, tty: plan.tty, command: plan.kind === "command" ? req.command : undefined });
    if (finished || socket.destroyed) {
      await exec.signal("SIGKILL");
      releaseEnv();
      finish(null, "client-gone");
      return;
    }
    armIdle();
    const drained = Promise.all([relay(exec.stdout, FrameType.Stdout), relay(exec.stderr, FrameType.Stderr)]);
    for (const f of pendingInput.splice(0)) onInput(f);
    const code = await exec.exited;
    await drained;
    send(FrameType.Exit, JSON.stringify({ code }));
    socket.end();
    finish(code, "exited");
  };

  socket.on("data", (chunk: Buffer) => {
    let frames: Frame[];
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      fail(new InputError("protocol", describeError(err)));
      return;
    }
    for (const frame of frames) {
      if (frame.type === FrameType.Hello) {
        if (helloSeen) continue;
        helloSeen = true;
        start(frame.payload).catch(fail);
      } else {
        try {
          onInput(frame);
        } catch (err) {
          fail(new InputError("protocol", describeError(err)));
        }
      }
    }
  });

  const hangup = (): void => {
    if (finished) return;
    hangUpProcess();
    finish(null, "disconnected");
  };
  socket.on("close", hangup);
  socket.on("error", () => socket.destroy());
}

import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { userInfo } from "node:os";
import { encodeData, encodeFrame, FrameDecoder, FrameType } from "../core/protocol/frames.js";
import { userSocketPath, type Layout } from "../core/host/layout.js";
import { isValidUsername } from "../core/users/username.js";

/**
 * The forced command: a thin relay between sshd's session (stdio of this process) and the node
 * daemon. It must stay tiny (no YAML, no dockerode): it starts once per login. It never opens the
 * Docker socket and has no say over who the user is: the daemon knows that from which socket
 * accepted the connection.
 */
export interface SpawnIo {
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
}

/** Exit status when podspawn itself fails (ssh uses 255 for its own errors too). */
export const SPAWN_FAILURE = 255;

function parseUserFlag(argv: readonly string[]): string | null {
  const i = argv.indexOf("--user");
  const v = i >= 0 ? argv[i + 1] : undefined;
  return v !== undefined && isValidUsername(v) ? v : null;
}

/**
 * The public key sshd accepted, from the ExposeAuthInfo file (`publickey <type> <base64>` lines;
 * the last one is the method that succeeded). Only for the audit log: failures are ignored.
 */
function acceptedKey(path: string | undefined): string | null {
  if (!path || !path.startsWith("/")) return null;
  try {
    const lines = readFileSync(path, "utf8").slice(0, 16 * 1024).split("\n").filter((l) => l.startsWith("publickey "));
    return lines.length ? (lines[lines.length - 1] as string).slice("publickey ".length).trim() : null;
  } catch {
    return null;
  }
}

/** "parent grandparent" pids, from /proc (Linux); changes when an ancestor dies. */
function ancestors(): string {
  const parentOf = (pid: number): number => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return 0;
    }
  };
  const parent = process.ppid;
  return `${parent} ${parentOf(parent)}`;
}

/** Runs a session; resolves with the exit status to leave with. */
export function runSpawn(argv: readonly string[], layout: Layout, io: SpawnIo): Promise<number> {
  return new Promise((resolve) => {
    const say = (line: string): void => {
      io.stderr.write(`podspawn: ${line}\n`);
    };
    const user = parseUserFlag(argv);
    if (!user) {
      say("spawn needs --user NAME with a valid pod username; it is meant to be run by sshd as a forced command");
      resolve(SPAWN_FAILURE);
      return;
    }
    const me = userInfo().username;
    if (me !== user) {
      say(`this account is ${JSON.stringify(me)}, not ${JSON.stringify(user)}; refusing`);
      resolve(SPAWN_FAILURE);
      return;
    }
    const tty = Boolean(io.env["SSH_TTY"]) && io.stdin.isTTY === true;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(io.env)) if ((k === "LANG" || k === "LANGUAGE" || k.startsWith("LC_")) && v !== undefined) env[k] = v;
    const hello = {
      v: 1,
      command: io.env["SSH_ORIGINAL_COMMAND"] ?? null,
      tty,
      cols: tty ? io.stdout.columns || 80 : 0,
      rows: tty ? io.stdout.rows || 24 : 0,
      term: io.env["TERM"] ?? null,
      env,
      project: io.env["PODSPAWN_PROJECT"] ?? null,
      authKey: acceptedKey(io.env["SSH_USER_AUTH"]),
    };

    let done = false;
    let exitCode = SPAWN_FAILURE;
    const lineage = ancestors();
    const socket: Socket = connect(userSocketPath(layout, user));
    const cleanups: Array<() => void> = [];

    const finish = (code: number): void => {
      if (done) return;
      done = true;
      exitCode = code;
      for (const c of cleanups) c();
      if (tty && io.stdin.isTTY) io.stdin.setRawMode(false);
      io.stdin.pause();
      socket.destroy();
      resolve(exitCode);
    };

    // sshd does not signal the forced command when the client vanishes without a PTY, and it runs
    // us under `sh -c`, which stays as our parent. Notice that sshd's session process is gone by
    // watching our parent and grandparent, so the daemon sees the connection close at once.
    const parentWatch = setInterval(() => {
      if (ancestors() !== lineage) hangup("SIGHUP");
    }, 500);
    parentWatch.unref();
    cleanups.push(() => clearInterval(parentWatch));

    const hangup = (signal: NodeJS.Signals): void => {
      if (!socket.destroyed) socket.write(encodeFrame(FrameType.Signal, signal));
      finish(128 + (signal === "SIGHUP" ? 1 : signal === "SIGTERM" ? 15 : 2));
    };
    for (const sig of ["SIGHUP", "SIGTERM"] as const) {
      const h = (): void => hangup(sig);
      process.on(sig, h);
      cleanups.push(() => process.off(sig, h));
    }
    if (!tty) {
      // Without a PTY, Ctrl-C on the client is not a byte in the stream: pass the signal on.
      const h = (): void => {
        socket.write(encodeFrame(FrameType.Signal, "SIGINT"));
      };
      process.on("SIGINT", h);
      cleanups.push(() => process.off("SIGINT", h));
    }
    const pipeError = (): void => hangup("SIGHUP");
    io.stdout.on("error", pipeError);
    io.stderr.on("error", () => undefined);

    socket.on("connect", () => {
      socket.write(encodeFrame(FrameType.Hello, JSON.stringify(hello)));
      if (tty) {
        io.stdin.setRawMode(true);
        const onResize = (): void => {
          socket.write(encodeFrame(FrameType.Resize, JSON.stringify({ cols: io.stdout.columns, rows: io.stdout.rows })));
        };
        process.on("SIGWINCH", onResize);
        io.stdout.on("resize", onResize);
        cleanups.push(() => {
          process.off("SIGWINCH", onResize);
          io.stdout.off("resize", onResize);
        });
      }
      io.stdin.on("data", (chunk: Buffer) => {
        let ok = true;
        for (const f of encodeData(FrameType.Stdin, chunk)) ok = socket.write(f) && ok;
        if (!ok) {
          io.stdin.pause();
          socket.once("drain", () => io.stdin.resume());
        }
      });
      io.stdin.on("end", () => {
        if (!socket.destroyed) socket.write(encodeFrame(FrameType.StdinEof));
      });
      io.stdin.on("error", () => undefined);
    });

    // After EXIT or ERROR only our own output is left to flush. The daemon closes its end right
    // after those frames, so that close is the normal end then, not a failure: treating it as one
    // exited before a slow reader had taken the tail of the output.
    let ending = false;
    const endAfterFlush = (code: number): void => {
      ending = true;
      io.stdout.write("", () => io.stderr.write("", () => finish(code)));
    };

    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        switch (frame.type) {
          case FrameType.Stdout:
            if (!io.stdout.write(frame.payload)) {
              socket.pause();
              io.stdout.once("drain", () => socket.resume());
            }
            break;
          case FrameType.Stderr:
            io.stderr.write(frame.payload);
            break;
          case FrameType.Info:
            if (tty) io.stderr.write(frame.payload);
            break;
          case FrameType.Error: {
            let message = "the session could not start";
            try {
              message = String((JSON.parse(frame.payload.toString("utf8")) as { message?: unknown }).message ?? message);
            } catch {
              /* keep the generic line */
            }
            say(message);
            endAfterFlush(SPAWN_FAILURE);
            return;
          }
          case FrameType.Exit: {
            let code = SPAWN_FAILURE;
            try {
              const c = (JSON.parse(frame.payload.toString("utf8")) as { code?: unknown }).code;
              if (typeof c === "number" && Number.isInteger(c) && c >= 0 && c <= 255) code = c;
            } catch {
              /* keep failure */
            }
            endAfterFlush(code);
            return;
          }
        }
      }
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (done || ending) return;
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
        say("the session service (podspawnd) is not running on this node; try again shortly or tell the node's admin");
      } else if (err.code === "EACCES") {
        say("this account may not use the session service on this node");
      } else {
        say(`lost the connection to the session service (${err.code ?? err.message})`);
      }
      finish(SPAWN_FAILURE);
    });
    socket.on("close", () => {
      if (!done && !ending) {
        say("the session service closed the connection");
        finish(SPAWN_FAILURE);
      }
    });
  });
}

import type { spawn as Spawn } from "node:child_process";
import { createRequire } from "node:module";
import { say, SPAWN_FAILURE } from "./io.js";

/**
 * spawn's own diagnostics (why a connection broke, a warning, a bug's stack): for the node's admin,
 * never for the user's stderr, which carries only the session's bytes and our one-line messages.
 */
export type Diagnose = (line: string) => void;

export const SYSLOG_TAG = "podspawn-spawn";
const LOGGER = "/usr/bin/logger";
/** syslog truncates long records anyway; a stack is enough at this length. */
const MAX_LINE = 4000;

/**
 * To syslog through logger(1): Node cannot send to /dev/log (a datagram socket) itself. Only rare
 * events get here, so a fork each is fine; detached, so the session's end does not cut it off, and
 * a missing logger or syslog daemon is ignored (the user already has their one line).
 */
export function syslog(tag = SYSLOG_TAG): Diagnose {
  return (line) => {
    try {
      // Loaded on first use: child_process costs ~2 ms at start, on every login, for a rare event.
      const { spawn } = createRequire("/")("node:child_process") as { spawn: typeof Spawn };
      const child = spawn(LOGGER, ["-t", `${tag}[${process.pid}]`, "-p", "authpriv.warning", "--", line.slice(0, MAX_LINE)], { stdio: "ignore", detached: true });
      child.on("error", () => undefined);
      child.unref();
    } catch {
      /* nowhere left to report to */
    }
  };
}

export const INTERNAL_ERROR_LINE = "internal error in the session client (the node's admin can see the details in the system log)";

/**
 * Nothing Node prints on its own reaches the user: warnings (deprecations, MaxListenersExceeded...)
 * go to `diagnose` instead of stderr, and an uncaught error becomes its stack in `diagnose`, our one
 * line on stderr and status 255, instead of a stack trace in the user's terminal or pipe.
 * Returns that handler, for errors the entry catches itself.
 */
export function keepStderrClean(stderr: NodeJS.WritableStream, diagnose: Diagnose, exit: (code: number) => void): (err: unknown) => void {
  // Node's default printer is a 'warning' listener; without listeners nothing is printed.
  process.removeAllListeners("warning");
  process.on("warning", (w) => diagnose(`warning: ${w.name}: ${w.message}`));
  let crashed = false;
  const crash = (err: unknown): void => {
    if (crashed) return;
    crashed = true;
    diagnose(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    say(stderr, INTERNAL_ERROR_LINE);
    exit(SPAWN_FAILURE);
  };
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
  return crash;
}

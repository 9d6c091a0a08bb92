import { spawn, type ChildProcess } from "node:child_process";
import { eventually, type NodeHandle } from "./harness.js";

/** A real ssh session left running in the background, its output collected as it comes. */
export interface SessionChild {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** The exit status (signal deaths as 128 + n is not needed here: null then). */
  readonly exited: Promise<number | null>;
  /** Resolves true once stdout contains `text`, false after `ms`. */
  waitForStdout(text: string, ms?: number): Promise<boolean>;
}

export function sshInBackground(node: NodeHandle, user: string, args: readonly string[]): SessionChild {
  const child = spawn("ssh", [...node.sshArgs(user), `${user}@127.0.0.1`, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStdout: (text, ms = 30_000) => eventually(() => out.includes(text), ms, 50),
  };
}

/** The promise's value, or `fallback` after `ms`: a test waits boundedly for a child to end. */
export async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

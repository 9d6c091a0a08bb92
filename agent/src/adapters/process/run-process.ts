import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

/**
 * The one way the agent runs a program: an argv (never a shell, so no text is ever interpreted),
 * a deadline on every call, a clean environment unless the caller passes one, and output captured
 * up to a bound. Everything above takes a `RunProcess`, so tests inject a scripted one.
 */

/** sshd and the shadow tools live in sbin; `LC_ALL=C` keeps their messages parseable. */
export const CLEAN_ENV: Readonly<Record<string, string>> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Per stream; the commands we run print a few lines, so more is a runaway. */
export const DEFAULT_MAX_OUTPUT_BYTES = 256 * 1024;

export interface RunOptions {
  /** @default DEFAULT_TIMEOUT_MS; then the process is killed (SIGKILL). */
  readonly timeoutMs?: number;
  /** @default CLEAN_ENV: nothing of the caller's environment leaks into the child. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Captured bytes per stream; the rest is read and dropped. @default DEFAULT_MAX_OUTPUT_BYTES */
  readonly maxOutputBytes?: number;
}

export interface ProcessResult {
  /** The exit status, or null when the process was ended by a signal (also our timeout). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** True if either stream had more output than was kept. */
  readonly truncated: boolean;
}

/** Rejects only when the program cannot be started at all (ENOENT, EACCES). */
export type RunProcess = (file: string, args: readonly string[], options?: RunOptions) => Promise<ProcessResult>;

export class ProcessStartError extends Error {
  override readonly name = "ProcessStartError";
}

/** How a run ended, for messages: "exit 3", "killed by SIGTERM", "timed out after 30000 ms". */
export function describeExit(r: ProcessResult, timeoutMs = DEFAULT_TIMEOUT_MS): string {
  if (r.timedOut) return `timed out after ${timeoutMs} ms`;
  if (r.code === null) return `killed by ${r.signal ?? "a signal"}`;
  return `exit ${r.code}`;
}

/** The first lines of what the program said, stderr first: enough for a one-line error. */
export function processMessage(r: ProcessResult): string {
  return (r.stderr.trim() || r.stdout.trim()).split("\n").slice(0, 5).join("; ");
}

class BoundedText {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  add(chunk: Buffer): void {
    const room = this.max - this.kept;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

export const runProcess: RunProcess = (file, args, options = {}) => {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  return new Promise((resolve, reject) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(file, [...args], { shell: false, env: { ...(options.env ?? CLEAN_ENV) }, stdio: "pipe" });
    } catch (err) {
      reject(new ProcessStartError(`cannot run ${file}: ${(err as Error).message}`));
      return;
    }
    // Nothing is written to it; a child that exits at once must not surface as an EPIPE.
    child.stdin.on("error", () => undefined);
    child.stdin.end();
    const out = new BoundedText(max);
    const err = new BoundedText(max);
    child.stdout.on("data", (c: Buffer) => out.add(c));
    child.stderr.on("data", (c: Buffer) => err.add(c));
    let timedOut = false;
    let exited = false;
    child.once("exit", () => (exited = true));
    // At the deadline: kill it if it still runs, and stop waiting for pipes that a left-behind
    // grandchild may hold open, so every call ends by its deadline.
    const timer = setTimeout(() => {
      if (!exited) {
        timedOut = true;
        child.kill("SIGKILL");
      }
      child.stdout.destroy();
      child.stderr.destroy();
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new ProcessStartError(`cannot run ${file}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout: out.text(), stderr: err.text(), truncated: out.truncated || err.truncated });
    });
  });
};

export interface StartOptions {
  /** Required: a long-lived child gets exactly the environment the caller decides. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * A long-lived child with piped stdio for relaying (`podspawn forward` runs one ssh per tunnel
 * connection). Argv only, like runProcess; it has no deadline of its own because its lifetime is
 * the connection it carries, and the caller kills it when that ends.
 */
export function startProcess(file: string, args: readonly string[], options: StartOptions): ChildProcessWithoutNullStreams {
  return spawn(file, [...args], { shell: false, env: { ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
}

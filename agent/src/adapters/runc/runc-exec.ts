import { spawn } from "node:child_process";
import { fstatSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import type { ExecPlan } from "../../core/container/exec-plan.js";
import { runcExecArgs, type RuncTarget } from "../../core/direct-io/runc-exec-args.js";
import { KILLED_STATUS, STATUS_MAX_BYTES, waiterStatusOf } from "../../core/direct-io/session-waiter.js";
import { identify, isLiving, readTextOrNull, type ProcessIdentity } from "../process/process-identity.js";
import { closeAll, type StdioFds } from "../proc/claimed-stdio.js";
import { killSessionProcesses, pidNamespaceOf, treeIoCounters, type SessionProcesses } from "../proc/session-processes.js";

/** A session's process run by `runc exec --detach` with the user's own pipes as its stdio. */
export interface DirectProcess {
  /** Its exit status as the waiter reported it (128 + n for a signal; 137 if the waiter was killed). */
  readonly exited: Promise<number>;
  /** To the session's process group (the command and its children); the waiter keeps waiting. */
  signal(signal: NodeJS.Signals): void;
  /**
   * A forced end: SIGKILL every process holding the user's pipes (adapters/proc/session-processes.ts),
   * then let the guard go, so nothing else of the session is touched.
   */
  kill(): void;
  /** Counters that move whenever the session's processes read or write: for the idle timeout. */
  ioCounters(): string | null;
  /**
   * Whether the container's init still lives (not gone, not a zombie, not exiting). Asked after a
   * 137: a container that stops SIGKILLs everything in it, the waiter too, while the engine may
   * still call it running for a while (a dockerd shutting down does).
   */
  containerAlive(): boolean;
}

export type RuncStart = { readonly ok: true; readonly process: DirectProcess } | { readonly ok: false; readonly reason: string };

export interface RuncExecOptions {
  readonly runc: string;
  readonly target: RuncTarget;
  readonly containerId: string;
  readonly plan: ExecPlan;
  /** A path in a root-only directory, unique to this process; the session's record goes beside it. */
  readonly pidFile: string;
  /** Given to runc as its stdin, stdout, stderr, then closed here: runc holds them from now on. */
  readonly fds: StdioFds;
  /** @default START_TIMEOUT_MS */
  readonly startTimeoutMs?: number;
}

/** runc exec --detach returns once the process runs (tens of ms); a runc still there is stuck. */
export const START_TIMEOUT_MS = 15_000;
/** runc's own error text kept for the log; it prints a line or two. */
const RUNC_ERROR_MAX_BYTES = 4096;

/**
 * Start the session's command through runc, detached, under the waiter (core's session-waiter.ts).
 * Resolves once runc has exited: then the process runs, or nothing was started and nothing of the
 * user's was read or written (runc's errors go to us, not to the user's stderr), so the caller can
 * still take the engine path. runc's environment is ours, not the user's.
 */
export async function startRuncExec(o: RuncExecOptions): Promise<RuncStart> {
  const args = runcExecArgs(o.target, o.containerId, o.plan, o.pidFile);
  const init = containerInit(o.target.root, o.containerId);
  const pidNs = init === null ? null : pidNamespaceOf(init.pid);
  if (init === null || pidNs === null) {
    closeAll(o.fds);
    return { ok: false, reason: "the container's init could not be read from runc's state" };
  }
  const session: SessionProcesses = { pidNs, pipeInodes: o.fds.map((fd) => fstatSync(fd).ino) };
  let child;
  try {
    // fd 2 is ours (runc's errors), 3 STATUS, 4 the user's stderr, 5 LET_GO (session-waiter.ts).
    child = spawn(o.runc, args, { stdio: [o.fds[0], o.fds[1], "pipe", "pipe", o.fds[2], "pipe"], detached: true, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  } finally {
    closeAll(o.fds);
  }
  // Node types stdio as a five-tuple; the sixth entry is there because we asked for it.
  const stdio = child.stdio as unknown as readonly (Readable | Writable | null)[];
  const runcErr = stdio[2] as Readable;
  const letGo = stdio[5] as Writable;
  const ours = [runcErr, stdio[3] as Readable, letGo] as const;
  for (const s of ours) s.on("error", () => undefined);
  // Read from the start: a quick command's status can come before runc has exited, and Node
  // drains (drops) an unread stdio stream of a child that exits.
  const status = statusOf(stdio[3] as Readable);
  let errText = "";
  runcErr.on("data", (d: Buffer) => {
    if (errText.length < RUNC_ERROR_MAX_BYTES) errText += d.toString("utf8", 0, Math.min(d.length, RUNC_ERROR_MAX_BYTES - errText.length));
  });
  const timeoutMs = o.startTimeoutMs ?? START_TIMEOUT_MS;
  const ran = await new Promise<{ code: number | null; timedOut: boolean }>((resolve) => {
    const timer = setTimeout(() => {
      tryKill(-(child.pid as number), "SIGKILL");
      resolve({ code: null, timedOut: true });
    }, timeoutMs);
    child.once("error", () => {
      clearTimeout(timer);
      resolve({ code: null, timedOut: false });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut: false });
    });
  });
  if (ran.code !== 0) {
    // runc fails before the process runs; should one have started all the same, it goes.
    killSessionProcesses(session);
    for (const s of ours) s.destroy();
    rmSync(o.pidFile, { force: true });
    const said = errText.trim().split("\n").pop() ?? "";
    return { ok: false, reason: ran.timedOut ? `runc exec did not return within ${timeoutMs} ms` : `runc exec failed (exit ${ran.code ?? "signal"})${said ? `: ${said}` : ""}` };
  }
  // The process runs, or has already run: from here on it is never started again elsewhere.
  // The waiter may be gone already (a quick command): then there is nobody to signal.
  const leader = identify(Number(readTextOrNull(o.pidFile)?.trim()));
  return { ok: true, process: detachedProcess(session, leader, init, status, letGo, runcErr, o.pidFile) };
}

/** The waiter's status, from its socket: resolves once, with the line or KILLED_STATUS at its close. */
function statusOf(socket: Readable): { readonly code: Promise<number>; close(): void } {
  let text = "";
  let settle: (code: number) => void = () => undefined;
  const code = new Promise<number>((resolve) => (settle = resolve));
  let settled = false;
  const done = (c: number): void => {
    if (settled) return;
    settled = true;
    settle(c);
  };
  socket.on("data", (d: Buffer) => {
    text += d.toString("latin1", 0, Math.min(d.length, STATUS_MAX_BYTES));
    const c = waiterStatusOf(text);
    if (c !== null) done(c);
  });
  // The waiter gone without a line: only SIGKILL does that (it catches the rest).
  socket.once("close", () => done(KILLED_STATUS));
  return { code, close: () => socket.destroy() };
}

function detachedProcess(session: SessionProcesses, leader: ProcessIdentity | null, init: ProcessIdentity, status: { readonly code: Promise<number>; close(): void }, letGo: Writable, runcErr: Readable, pidFile: string): DirectProcess {
  const record = recordPathOf(pidFile);
  try {
    writeFileSync(record, JSON.stringify(session), { mode: 0o600 });
  } catch {
    // Only a crash sweep reads it: a session that runs without one has the guard still.
  }
  let over = false;
  const exited = status.code.then((code) => {
    over = true;
    // An orderly end: the guard leaves; whatever the session started on its own stays.
    if (!letGo.writableEnded) letGo.end("\n");
    status.close();
    runcErr.destroy();
    rmSync(record, { force: true });
    rmSync(pidFile, { force: true });
    return code;
  });
  return {
    exited,
    signal: (signal) => {
      if (over || leader === null) return;
      // While the leader is the process identified, its group is the session's.
      const now = identify(leader.pid);
      if (now !== null && now.startTime === leader.startTime) tryKill(-leader.pid, signal);
    },
    // Also after the status came: a forced end ends the holders a hang-up left (setsid'd children).
    kill: () => {
      killSessionProcesses(session);
      if (!letGo.writableEnded) letGo.end("\n");
    },
    ioCounters: () => (over || leader === null ? null : treeIoCounters(leader.pid)),
    containerAlive: () => isLiving(init),
  };
}

/** A running container's init, through the pid runc keeps in its state. */
function containerInit(root: string, containerId: string): ProcessIdentity | null {
  try {
    const state = JSON.parse(readFileSync(`${root}/${containerId}/state.json`, "utf8")) as { init_process_pid?: unknown };
    const pid = state.init_process_pid;
    return typeof pid === "number" && Number.isInteger(pid) && pid > 1 ? identify(pid) : null;
  } catch {
    return null;
  }
}

/** Where a live session's SessionProcesses are kept, for the next start after a crash. */
export function recordPathOf(pidFile: string): string {
  return pidFile.replace(/\.pid$/, "") + ".session.json";
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

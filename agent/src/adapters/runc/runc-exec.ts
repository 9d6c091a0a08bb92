import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { constants as os } from "node:os";
import type { ExecPlan } from "../../core/container/exec-plan.js";
import { runcExecArgs, type RuncTarget } from "../../core/direct-io/runc-exec-args.js";
import { identify, signalIfSame, type ProcessIdentity } from "../process/process-identity.js";
import { closeAll, type StdioFds } from "../proc/claimed-stdio.js";

/** A process run by `runc exec` with the user's own pipes as its stdio. */
export interface DirectProcess {
  /** Its exit status (128 + signal when a signal ended it), once runc has exited. */
  readonly exited: Promise<number>;
  /** runc exec forwards every signal it gets (but SIGKILL/SIGSTOP) to the process. */
  signal(signal: NodeJS.Signals): void;
  /**
   * SIGKILL the process in the container (by the pid runc wrote, if it is still that one); runc,
   * its parent, reaps it and exits. Without a pid yet, runc's process group goes instead.
   */
  kill(): void;
  /** Counters that move whenever bytes pass (runc copies between the pipes): for the idle timeout. */
  ioCounters(): string | null;
}

export interface RuncExecOptions {
  readonly runc: string;
  readonly target: RuncTarget;
  readonly containerId: string;
  readonly plan: ExecPlan;
  /** A path in a root-only directory, unique to this process. */
  readonly pidFile: string;
  /** Given to runc as its stdin, stdout, stderr, then closed here: runc holds them from now on. */
  readonly fds: StdioFds;
}

/**
 * Start runc exec in its own process group, its stdio the user's pipes: neither the daemon, nor
 * spawn, nor dockerd or the shim touches the bytes. runc's environment is ours, not the user's.
 */
export function startRuncExec(o: RuncExecOptions): DirectProcess {
  const args = runcExecArgs(o.target, o.containerId, o.plan, o.pidFile);
  let child;
  try {
    child = spawn(o.runc, args, { stdio: [o.fds[0], o.fds[1], o.fds[2]], detached: true, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  } finally {
    closeAll(o.fds);
  }
  let inContainer: ProcessIdentity | null = null;
  const containerProcess = (): ProcessIdentity | null => {
    if (inContainer === null) {
      const pid = Number(readText(o.pidFile)?.trim());
      if (Number.isInteger(pid) && pid > 1) inContainer = identify(pid);
    }
    return inContainer;
  };
  let over = false;
  // Identified while runc (its parent, which reaps it) is alive, so the pid is still its own.
  const learn = setInterval(() => {
    if (over || containerProcess() !== null) clearInterval(learn);
  }, PID_FILE_POLL_MS);
  learn.unref();
  const exited = new Promise<number>((resolve) => {
    child.once("error", () => resolve(255));
    child.once("exit", (code, signal) => {
      over = true;
      clearInterval(learn);
      // runc gone, its process left behind (runc was killed): end it. Only a process identified
      // while runc lived; a pid read now might already be someone else's.
      if (inContainer) signalIfSame(inContainer, "SIGKILL");
      rmSync(o.pidFile, { force: true });
      resolve(code ?? 128 + (signal ? (os.signals[signal] ?? 0) : 0));
    });
  });
  const runcPid = child.pid;
  return {
    exited,
    signal: (signal) => {
      if (!over && runcPid !== undefined) tryKill(runcPid, signal);
    },
    kill: () => {
      if (over) return;
      const p = containerProcess();
      // runc must outlive its child to reap it: killed first, it would leave a zombie to host init.
      if (p) signalIfSame(p, "SIGKILL");
      else if (runcPid !== undefined) tryKill(-runcPid, "SIGKILL");
    },
    ioCounters: () => (runcPid === undefined || over ? null : ioLine(readText(`/proc/${runcPid}/io`))),
  };
}

/** How often the pid file is looked for until runc has written it (right after the process starts). */
const PID_FILE_POLL_MS = 10;

function readText(path: string): string | null {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return null;
  }
}

/** rchar and wchar: every read and write runc makes while it copies. */
function ioLine(io: string | null): string | null {
  if (io === null) return null;
  const pick = (k: string): string => new RegExp(`^${k}: (\\d+)$`, "m").exec(io)?.[1] ?? "";
  return `${pick("rchar")} ${pick("wchar")}`;
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

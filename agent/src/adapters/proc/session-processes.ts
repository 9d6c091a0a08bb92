import { readdirSync, readlinkSync } from "node:fs";
import { readTextOrNull } from "../process/process-identity.js";

/**
 * What a forced end of one direct session (adapters/runc/runc-exec.ts), or the next daemon start
 * after a crash, must end: every process holding one of the user's three pipes, because each of
 * them keeps the user's ssh open (sshd waits for the last writer). That is the waiter and the
 * command, and any child that kept them, also one that left the session's group with setsid; a
 * child that let them go (`nohup server > log 2>&1 &`) stays, as it does on the engine path.
 * Only processes of the container's own pid namespace are touched: spawn and sshd hold the same
 * pipes on the host.
 */
export interface SessionProcesses {
  /** The container's pid namespace, as /proc/PID/ns/pid reads (`pid:[4026532...]`). */
  readonly pidNs: string;
  /** The inodes of the user's stdin, stdout and stderr pipes. */
  readonly pipeInodes: readonly number[];
}

const PROC = "/proc";

function link(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

function holdsOne(pid: string, pipes: ReadonlySet<string>): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`${PROC}/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    const target = link(`${PROC}/${pid}/fd/${fd}`);
    return target !== null && pipes.has(target);
  });
}

/** The pids holding one of the session's pipes now, in its pid namespace. */
export function sessionPids(s: SessionProcesses): number[] {
  const pipes = new Set(s.pipeInodes.map((ino) => `pipe:[${ino}]`));
  const found: number[] = [];
  for (const entry of readdirSync(PROC)) {
    if (!/^\d+$/.test(entry)) continue;
    // The namespace first: one readlink keeps every host process (sshd, spawn) out of the rest.
    if (link(`${PROC}/${entry}/ns/pid`) !== s.pidNs) continue;
    if (holdsOne(entry, pipes)) found.push(Number(entry));
  }
  return found;
}

/**
 * SIGKILL every holder of the session's pipes; returns how many were signalled. The scan and the kill
 * are microseconds apart (as in process-identity's signalIfSame), and a pid comes back only after
 * the kernel has cycled through every other one.
 */
export function killSessionProcesses(s: SessionProcesses): number {
  let killed = 0;
  for (const pid of sessionPids(s)) {
    try {
      process.kill(pid, "SIGKILL");
      killed++;
    } catch {
      /* gone meanwhile */
    }
  }
  return killed;
}

/** The pid namespace of `pid` as its /proc link reads, or null. */
export function pidNamespaceOf(pid: number): string | null {
  return link(`${PROC}/${pid}/ns/pid`);
}

/**
 * rchar + wchar of `pid` and every descendant still its descendant: they move whenever anything
 * of the session reads or writes (the user's bytes go straight through sshd's pipes, so this is
 * what the idle timeout can see). Bounded: a fork bomb is cut off by the container's pids limit,
 * and at MAX_TREE here.
 */
export function treeIoCounters(pid: number): string | null {
  let rchar = 0;
  let wchar = 0;
  let seen = 0;
  const queue = [pid];
  while (queue.length > 0 && seen < MAX_TREE) {
    const p = queue.shift() as number;
    const io = readTextOrNull(`${PROC}/${p}/io`);
    if (io === null) continue;
    seen++;
    rchar += Number(/^rchar: (\d+)$/m.exec(io)?.[1] ?? 0);
    wchar += Number(/^wchar: (\d+)$/m.exec(io)?.[1] ?? 0);
    for (const c of (readTextOrNull(`${PROC}/${p}/task/${p}/children`) ?? "").split(" ")) if (/^\d+$/.test(c)) queue.push(Number(c));
  }
  return seen === 0 ? null : `${rchar} ${wchar}`;
}

const MAX_TREE = 256;

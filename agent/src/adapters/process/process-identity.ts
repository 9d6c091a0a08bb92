import { readFileSync } from "node:fs";

/**
 * A host process told apart from a later one that got its pid: the start time in clock ticks
 * since boot (field 22 of /proc/PID/stat), which the kernel never gives two processes of one
 * pid. Node has no pidfd, so this is the check before a signal goes out by pid.
 */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
}

/** Field 22 of a /proc/PID/stat line; the command name (field 2) may hold blanks and ')'. */
export function startTimeOf(statLine: string): string | null {
  const fields = statLine.slice(statLine.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const start = fields[19];
  return start !== undefined && /^[0-9]+$/.test(start) ? start : null;
}

export function identify(pid: number, readStat: (pid: number) => string = procStat): ProcessIdentity | null {
  try {
    const startTime = startTimeOf(readStat(pid));
    return startTime === null ? null : { pid, startTime };
  } catch {
    return null;
  }
}

/**
 * Sends `signal` only if `who` is still the process it was when identified; false when it has
 * gone or its pid now names another process. (The read and the kill are microseconds apart, and
 * a pid comes back only after the kernel has cycled through every other one.)
 */
export function signalIfSame(who: ProcessIdentity, signal: NodeJS.Signals, readStat: (pid: number) => string = procStat, kill: (pid: number, signal: NodeJS.Signals) => void = process.kill): boolean {
  const now = identify(who.pid, readStat);
  if (now === null || now.startTime !== who.startTime) return false;
  try {
    kill(who.pid, signal);
    return true;
  } catch {
    return false;
  }
}

function procStat(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, "utf8");
}

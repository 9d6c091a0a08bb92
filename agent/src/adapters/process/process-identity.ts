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

/** Fields 3 on of a /proc/PID/stat line; the command name (field 2) may hold blanks and ')'. */
function statFieldsOf(statLine: string): string[] {
  return statLine.slice(statLine.lastIndexOf(")") + 2).split(" ");
}

/** Field 22 of a /proc/PID/stat line. */
export function startTimeOf(statLine: string): string | null {
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const start = statFieldsOf(statLine)[19];
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

/** PF_EXITING in field 9 of /proc/PID/stat: the process is in exit() (an init: killing its pid namespace). */
const PF_EXITING = 0x4;

/** Still the process identified, and neither a zombie nor on its way out. */
export function isLiving(who: ProcessIdentity, readStat: (pid: number) => string = procStat): boolean {
  let fields: string[];
  try {
    fields = statFieldsOf(readStat(who.pid));
  } catch {
    return false;
  }
  // fields[0] is field 3 (state), fields[6] field 9 (flags), fields[19] field 22 (start time).
  return fields[19] === who.startTime && fields[0] !== "Z" && fields[0] !== "X" && (Number(fields[6]) & PF_EXITING) === 0;
}

/** A small file's text (latin1: /proc and runc's files are bytes), or null when it is gone or unreadable. */
export function readTextOrNull(path: string): string | null {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return null;
  }
}

/**
 * Pure checks for the direct stdio path: spawn names its pid, and the root daemon reopens that
 * process's stdin/stdout/stderr through /proc. The pid is the client's word, so nothing is opened
 * for it unless the kernel's own facts about the process say it is the user's spawn, read before
 * and after the open (adapters/proc/claimed-stdio.ts reads them; this file only judges).
 */

/** What /proc says about one process at one moment. */
export interface ProcFacts {
  /** Real, effective, saved and filesystem uid (the `Uid:` line of /proc/PID/status). */
  readonly uids: readonly number[];
  /** Field 22 of /proc/PID/stat: clock ticks since boot; another process of that pid has another. */
  readonly startTime: string;
  /** readlink /proc/PID/exe: kept by the kernel, the process cannot change it. */
  readonly exe: string;
}

/**
 * Who the process must be: the socket's user, running the node binary that runs spawn, and the
 * very process that sent HELLO (the start time it sent with its pid: a pid reused since is not it).
 */
export interface ClaimExpectation {
  readonly uid: number;
  readonly exe: string;
  readonly startTime: string;
}

/** The `Uid:` line of /proc/PID/status as its four numbers, or null if there is none. */
export function uidsOf(status: string): number[] | null {
  const line = status.split("\n").find((l) => l.startsWith("Uid:"));
  if (!line) return null;
  const uids = line.slice(4).trim().split(/\s+/).map(Number);
  return uids.length === 4 && uids.every((n) => Number.isInteger(n) && n >= 0) ? uids : null;
}

/** Why the process is not (or no longer) the one the user may hand over; null when it is. */
export function claimProblem(expected: ClaimExpectation, facts: ProcFacts | null): string | null {
  if (facts === null) return "the process is gone or /proc could not be read";
  if (facts.uids.length !== 4 || facts.uids.some((u) => u !== expected.uid)) {
    return `its uids (real, effective, saved, fs) are ${facts.uids.join(",")}, not all ${expected.uid}`;
  }
  if (facts.exe !== expected.exe) return `it runs ${JSON.stringify(facts.exe)}, not ${JSON.stringify(expected.exe)}`;
  if (facts.startTime !== expected.startTime) return "its pid names another process than the one that sent HELLO (start time differs)";
  return null;
}

/** An fd's link as /proc shows it: an anonymous pipe reads `pipe:[INODE]`. */
export function pipeInodeOf(link: string): number | null {
  const m = /^pipe:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : null;
}

/** What the daemon learnt about one fd it opened: the link before the open and fstat after. */
export interface OpenedFdFacts {
  readonly fd: 0 | 1 | 2;
  /** readlink /proc/PID/fd/N before opening it. */
  readonly linkBefore: string;
  readonly isFifo: boolean;
  readonly inode: number;
}

/**
 * Only anonymous pipes (what sshd gives a command without a PTY): opening one through /proc never
 * blocks (a named FIFO would wait for a peer), and what was opened is the pipe seen before.
 * A socket cannot be reopened at all, a file or a terminal is not what sshd gives here.
 */
export function fdProblem(f: OpenedFdFacts): string | null {
  const inode = pipeInodeOf(f.linkBefore);
  if (inode === null) return `fd ${f.fd} is ${JSON.stringify(f.linkBefore)}, not an anonymous pipe`;
  if (!f.isFifo) return `fd ${f.fd} opened as something other than a pipe`;
  if (f.inode !== inode) return `fd ${f.fd} changed between the check and the open`;
  return null;
}

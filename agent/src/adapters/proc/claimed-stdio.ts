import { closeSync, constants, fstatSync, openSync, readFileSync, readlinkSync } from "node:fs";
import { claimProblem, fdProblem, pipeInodeOf, uidsOf, type ClaimExpectation, type ProcFacts } from "../../core/direct-io/claimed-process.js";
import { startTimeOf } from "../process/process-identity.js";

/** The three fds the daemon opened onto a process's stdin, stdout and stderr: its own, to close. */
export type StdioFds = readonly [number, number, number];

export type ClaimResult = { readonly ok: true; readonly fds: StdioFds } | { readonly ok: false; readonly reason: string };

/** Where /proc is (tests of the pure parts use other readers; this adapter reads the real one). */
const PROC = "/proc";

export function procFacts(pid: number): ProcFacts | null {
  try {
    const status = readFileSync(`${PROC}/${pid}/status`, "latin1");
    const uids = uidsOf(status) ?? [];
    const startTime = startTimeOf(readFileSync(`${PROC}/${pid}/stat`, "latin1"));
    if (startTime === null) return null;
    return { uids, startTime, exe: readlinkSync(`${PROC}/${pid}/exe`) };
  } catch {
    return null;
  }
}

const MODES = [constants.O_RDONLY, constants.O_WRONLY, constants.O_WRONLY] as const;

/**
 * Open `pid`'s fds 0-2 (for the root daemon) only if the process is the user's, before and after,
 * and each fd is an anonymous pipe. The first open is non-blocking (whatever the fd turned out to
 * be, the daemon's event loop never waits on it); once fstat says it is that pipe, it is reopened
 * through the daemon's own fd without O_NONBLOCK, so the process in the container gets an
 * ordinary blocking pipe. On any refusal everything opened is closed again.
 */
export function claimStdio(pid: number, expected: ClaimExpectation): ClaimResult {
  const before = procFacts(pid);
  const refused = claimProblem(expected, before);
  if (refused !== null || before === null) return { ok: false, reason: refused ?? "unreadable" };
  const opened: number[] = [];
  try {
    for (const n of [0, 1, 2] as const) {
      const problem = openOne(pid, n, opened);
      if (problem !== null) return fail(opened, problem);
    }
    // Read again after the opens: the same process (start time), still the user's.
    const changed = claimProblem(expected, procFacts(pid));
    if (changed !== null) return fail(opened, `after opening its stdio: ${changed}`);
    return { ok: true, fds: [opened[0] as number, opened[1] as number, opened[2] as number] };
  } catch (err) {
    return fail(opened, `opening its stdio failed: ${(err as Error).message}`);
  }
}

function openOne(pid: number, n: 0 | 1 | 2, opened: number[]): string | null {
  const path = `${PROC}/${pid}/fd/${n}`;
  let linkBefore: string;
  try {
    linkBefore = readlinkSync(path);
  } catch {
    return `fd ${n} is not there`;
  }
  // Nothing but an anonymous pipe is opened at all (a file on a hung mount could block the open).
  if (pipeInodeOf(linkBefore) === null) return fdProblem({ fd: n, linkBefore, isFifo: false, inode: -1 });
  let probe: number;
  try {
    probe = openSync(path, MODES[n] | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return `fd ${n} (${linkBefore}) cannot be reopened: ${(err as NodeJS.ErrnoException).code ?? "error"}`;
  }
  try {
    const st = fstatSync(probe);
    const problem = fdProblem({ fd: n, linkBefore, isFifo: st.isFIFO(), inode: st.ino });
    if (problem !== null) return problem;
    // Our own fd: nobody else can swap it, and a pipe's open never waits for a peer.
    const fd = openSync(`/proc/self/fd/${probe}`, MODES[n] | constants.O_NOCTTY);
    opened.push(fd);
    return fstatSync(fd).ino === st.ino ? null : `fd ${n} changed while reopened`;
  } finally {
    closeSync(probe);
  }
}

function fail(opened: number[], reason: string): ClaimResult {
  for (const fd of opened) closeSync(fd);
  opened.length = 0;
  return { ok: false, reason };
}

/** Close fds the daemon no longer needs (after handing them to runc); errors are not ours to act on. */
export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
  }
}

/**
 * The waiter: five lines of the container's own /bin/sh that runc starts in place of the
 * session's command on the direct path.
 *
 * Why it exists: `runc exec --detach` is the only way runc gives the process sshd's pipes without
 * copying every byte through pipes of its own (runc 1.1 in the foreground does; measured 0.74 of
 * plain ssh against 0.90, docs/BENCHMARKS.md). Detached, runc exits once the process runs, and
 * the process is reparented to the host's init, which reaps it: nobody who could tell the daemon
 * its exit status. Node cannot be a subreaper, and the kit ships no native binary, so the status
 * is reported from inside: the waiter runs the command in the foreground and writes `$?` to a
 * socket only the daemon holds the other end of.
 *
 * File descriptors as runc passes them (`--preserve-fds 3`):
 *   0, 1  the user's stdin and stdout (sshd's pipes), for the command;
 *   2     a socket to the daemon: runc's own error lines, and the waiter's (never the user's);
 *   3     STATUS: the waiter writes the command's exit status, one decimal line;
 *   4     the user's stderr (sshd's pipe), which becomes the command's fd 2;
 *   5     LET_GO: the daemon writes one line when the session ended in order.
 * The command gets 0, 1 and 2 only (3, 4 and 5 closed), as on the engine path.
 *
 * Signals: runc makes the waiter a session and process-group leader, and the daemon signals that
 * group (as a terminal's hang-up does), so the command and its children get a forwarded signal.
 * The waiter catches them (a caught signal is reset to default across exec, so the command sees
 * default dispositions) and keeps waiting, so a signal that ends the command still gets its
 * status reported (128 + n, as a shell does). Only SIGKILL ends the waiter itself.
 *
 * The guard: a background subshell that holds LET_GO and nothing of the user's. If the daemon
 * dies (SIGKILL, a crash), its end of LET_GO closes, the guard's read sees end-of-file, and it
 * kills the whole group: otherwise the command would keep sshd's pipes, and with them the user's
 * ssh, open until it ended by itself. After an orderly end the daemon writes the line and the
 * guard exits without touching anything (a `nohup server > log &` started by the session stays).
 */
export const WAITER_SCRIPT = [
  "trap : HUP INT QUIT TERM USR1 USR2 WINCH",
  "{ trap '' HUP INT QUIT TERM USR1 USR2 WINCH; read _ <&5 || kill -KILL 0; } </dev/null >/dev/null 2>&1 3>&- 4>&- &",
  "exec 5>&-",
  // In a subshell that becomes the command: the shell that waits keeps its own fd 2 (the
  // daemon's), so what it says when a command dies of a signal ("Hangup", "Killed") is not the
  // user's (the engine path says nothing there either).
  '(exec "$@" 2>&4 3>&- 4>&-)',
  "echo $? >&3",
].join("\n");

/** `$0` of the waiter: sh's own messages ("podspawn: 1: vim: not found") name us, not "sh". */
const WAITER_NAME = "podspawn";

/** The argv runc runs: the waiter, then the session's own argv as its positional parameters. */
export function waiterArgv(argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error("the waiter needs a command");
  return ["/bin/sh", "-c", WAITER_SCRIPT, WAITER_NAME, ...argv];
}

/** How many fds past stdio runc passes: STATUS (3), the user's stderr (4), LET_GO (5). */
export const WAITER_EXTRA_FDS = 3;

/** The bound on what is read from STATUS: one line of at most three digits and a newline. */
export const STATUS_MAX_BYTES = 16;

/** 128 + SIGKILL: what a shell reports for a process killed by the one signal the waiter cannot catch. */
export const KILLED_STATUS = 137;

/**
 * The exit status the waiter wrote on STATUS, or null while its line is not complete. A line that
 * is not a status 0-255 (it cannot be: only the waiter writes there) counts as killed.
 */
export function waiterStatusOf(text: string): number | null {
  const nl = text.indexOf("\n");
  if (nl < 0) return text.length >= STATUS_MAX_BYTES ? KILLED_STATUS : null;
  const line = text.slice(0, nl);
  return /^\d{1,3}$/.test(line) && Number(line) <= 255 ? Number(line) : KILLED_STATUS;
}

import { readFileSync } from "node:fs";

/** "parent grandparent" pids, from /proc (Linux); changes when an ancestor dies. */
export function ancestors(): string {
  const parentOf = (pid: number): number => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return 0;
    }
  };
  const parent = process.ppid;
  return `${parent} ${parentOf(parent)}`;
}

/**
 * sshd does not signal the forced command when the client vanishes without a PTY, and it runs
 * us under `sh -c`, which stays as our parent. Notice that sshd's session process is gone by
 * watching our parent and grandparent, so the daemon sees the connection close at once.
 * Returns the stop.
 */
export function watchParent(onGone: () => void, everyMs = 500): () => void {
  const lineage = ancestors();
  const timer = setInterval(() => {
    if (ancestors() !== lineage) onGone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

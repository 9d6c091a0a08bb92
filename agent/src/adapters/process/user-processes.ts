import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { identify, signalIfSame, type ProcessIdentity } from "./process-identity.js";

/**
 * The host processes of one account, found by uid in /proc, and their end. For a removed pod user
 * these are its open ssh connections (sshd's unprivileged child of each, and spawn): a multiplexed
 * (ControlMaster) connection would otherwise go on opening sessions after its keys are gone, and
 * userdel refuses to remove an account while it has processes.
 */

export interface ProcTable {
  pids(): Promise<number[]>;
  /** /proc/PID/status text; rejects once the process has gone. */
  status(pid: number): Promise<string>;
  stat(pid: number): string;
}

export const hostProcTable: ProcTable = {
  pids: async () => (await readdir("/proc")).filter((n) => /^[0-9]+$/.test(n)).map(Number),
  status: (pid) => readFile(`/proc/${pid}/status`, "utf8"),
  stat: (pid) => readFileSync(`/proc/${pid}/stat`, "utf8"),
};

/** Real, effective, saved and filesystem uids from a status text's `Uid:` line. */
export function uidsOf(status: string): number[] {
  const m = /^Uid:\s+(.*)$/m.exec(status);
  return m ? (m[1] as string).trim().split(/\s+/).map(Number) : [];
}

/** Live processes with `uid` among their uids; a zombie is already dead, waiting for its parent. */
export async function processesOf(uid: number, proc: ProcTable = hostProcTable): Promise<ProcessIdentity[]> {
  const out: ProcessIdentity[] = [];
  for (const pid of await proc.pids()) {
    const status = await proc.status(pid).catch(() => "");
    if (!uidsOf(status).includes(uid) || /^State:\s+Z/m.test(status)) continue;
    const who = identify(pid, proc.stat);
    if (who) out.push(who);
  }
  return out;
}

export interface EndDeps {
  readonly proc?: ProcTable;
  readonly signal?: (who: ProcessIdentity, signal: NodeJS.Signals) => boolean;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Rounds of look-and-kill: an sshd child may still be forking its session when first seen. */
const ROUNDS = 20;
const ROUND_MS = 50;

/**
 * SIGKILL (a user's process cannot ignore it) to every process of `uid`, until none is left or
 * the rounds are used up; returns how many were signalled. Never for root or a system account.
 */
export async function endProcessesOf(uid: number, deps: EndDeps = {}): Promise<number> {
  if (!Number.isInteger(uid) || uid < 1000) throw new Error(`refusing to end the processes of uid ${uid}: not a regular account`);
  const proc = deps.proc ?? hostProcTable;
  const signal = deps.signal ?? ((who, sig) => signalIfSame(who, sig, proc.stat));
  const sleep = deps.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  const ended = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const left = await processesOf(uid, proc);
    if (left.length === 0) break;
    for (const who of left) if (signal(who, "SIGKILL")) ended.add(`${who.pid}@${who.startTime}`);
    await sleep(ROUND_MS);
  }
  return ended.size;
}

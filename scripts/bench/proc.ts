/**
 * What the benchmark reads from /proc (Linux): CPU time of a process and of the whole machine,
 * resident and private memory. Read-only; nothing here signals or changes a process.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's CPU counters (USER_HZ; 100 on every Linux we run on). */
const TICK_MS = 10;

/** utime + stime of a process, in ms; NaN once it is gone. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After the command: state is field 3, utime 14, stime 15 (1-based), so indexes 11 and 12.
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** Non-idle CPU time of the whole machine, summed over every CPU, in ms. */
export function machineBusyMs(): number {
  const line = readFileSync("/proc/stat", "latin1").split("\n")[0] ?? "";
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * TICK_MS;
}

function statusField(pid: number, field: string): number {
  const text = readFileSync(`/proc/${pid}/status`, "latin1");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

/** Resident set size, KiB. */
export function rssKiB(pid: number): number {
  return statusField(pid, "VmRSS");
}

/** Private (not shared with any other process) resident memory, KiB: smaps_rollup's Private_*. */
export function privateKiB(pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "latin1");
  let kib = 0;
  for (const m of text.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) kib += Number(m[1]);
  return kib;
}

/** Pids whose command line contains every one of `parts` (e.g. a container's shim). */
export function pidsWithCmdline(parts: readonly string[]): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`, "latin1").replace(/\0/g, " ");
    } catch {
      continue;
    }
    if (parts.every((p) => cmd.includes(p))) out.push(Number(name));
  }
  return out;
}

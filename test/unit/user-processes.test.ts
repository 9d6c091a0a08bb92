import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { endProcessesOf, processesOf, uidsOf, type ProcTable } from "../../agent/src/adapters/process/user-processes.js";

/** A /proc in memory: pid -> uids and state; a killed process leaves it (or becomes a zombie). */
function procTable(procs: Record<number, { uids: number[]; state?: string }>, zombieOnKill = false) {
  const table = new Map(Object.entries(procs).map(([pid, p]) => [Number(pid), { ...p, start: String(1000 + Number(pid)) }]));
  const proc: ProcTable = {
    pids: async () => [...table.keys()],
    status: async (pid) => {
      const p = table.get(pid);
      if (!p) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return `Name:\tsshd\nState:\t${p.state ?? "S (sleeping)"}\nUid:\t${p.uids.join("\t")}\n`;
    },
    stat: (pid) => {
      const p = table.get(pid);
      if (!p) throw new Error("ENOENT");
      return `${pid} (sshd: x) S ${"0 ".repeat(18)}${p.start} 0 0`;
    },
  };
  const killed: number[] = [];
  const signal = (who: { pid: number }, sig: NodeJS.Signals): boolean => {
    assert.equal(sig, "SIGKILL");
    killed.push(who.pid);
    if (zombieOnKill) table.get(who.pid)!.state = "Z (zombie)";
    else table.delete(who.pid);
    return true;
  };
  return { proc, killed, signal, table };
}

describe("a user's host processes", () => {
  it("reads every uid from a status Uid line", () => {
    assert.deepEqual(uidsOf("Name:\tx\nUid:\t1001\t1002\t1003\t1004\nGid:\t5\t5\t5\t5\n"), [1001, 1002, 1003, 1004]);
    assert.deepEqual(uidsOf("Name:\tx\n"), []);
  });

  it("finds the processes with the uid among their uids, not others and not zombies", async () => {
    const t = procTable({ 10: { uids: [70001, 70001, 70001, 70001] }, 11: { uids: [0, 70001, 0, 0] }, 12: { uids: [70002, 70002, 70002, 70002] }, 13: { uids: [70001, 70001, 70001, 70001], state: "Z (zombie)" }, 14: { uids: [0, 0, 0, 0] } });
    assert.deepEqual((await processesOf(70001, t.proc)).map((p) => p.pid), [10, 11]);
  });

  it("kills each of them once (a zombie is left to its parent) and returns how many", async () => {
    const t = procTable({ 10: { uids: [70001, 70001, 70001, 70001] }, 11: { uids: [70001, 70001, 70001, 70001] }, 12: { uids: [70002, 70002, 70002, 70002] } }, true);
    assert.equal(await endProcessesOf(70001, { proc: t.proc, signal: t.signal, sleep: async () => undefined }), 2);
    assert.deepEqual(t.killed, [10, 11]);
    assert.ok(t.table.has(12), "another user's process is untouched");
  });

  it("looks again after each round: a process forked while the first ones died is ended too", async () => {
    const t = procTable({ 10: { uids: [70001, 70001, 70001, 70001] } });
    let forked = false;
    const sleep = async (): Promise<void> => {
      if (!forked) t.table.set(20, { uids: [70001, 70001, 70001, 70001], start: "5000" });
      forked = true;
    };
    assert.equal(await endProcessesOf(70001, { proc: t.proc, signal: t.signal, sleep }), 2);
    assert.deepEqual(t.killed, [10, 20]);
  });

  it("refuses root and system accounts, signalling nothing", async () => {
    const t = procTable({ 1: { uids: [0, 0, 0, 0] }, 2: { uids: [100, 100, 100, 100] } });
    for (const uid of [0, 100, 999, -1, 1.5]) await assert.rejects(endProcessesOf(uid, { proc: t.proc, signal: t.signal }), /not a regular account/);
    assert.deepEqual(t.killed, []);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CoalescedRun } from "../../agent/src/support/coalesced-run.js";

async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/** A task whose runs finish only when the test says so. */
function gatedTask(): { task: () => Promise<void>; starts: number[]; finishOne(): void; runs(): number } {
  const gates: (() => void)[] = [];
  const starts: number[] = [];
  let clock = 0;
  return {
    starts,
    task: () => {
      starts.push(++clock);
      return new Promise<void>((resolve) => gates.push(resolve));
    },
    finishOne: () => gates.shift()?.(),
    runs: () => starts.length,
  };
}

describe("CoalescedRun", () => {
  it("runs a burst of triggers during a run as one more run, not one each", async () => {
    const g = gatedTask();
    const c = new CoalescedRun(g.task);
    const first = c.run();
    await settle();
    const burst = Array.from({ length: 50 }, () => c.run());
    await settle();
    assert.equal(g.runs(), 1, "the burst waits for the running one");
    g.finishOne();
    await first;
    await settle();
    assert.equal(g.runs(), 2);
    g.finishOne();
    await Promise.all(burst);
    assert.equal(g.runs(), 2);
  });

  it("never lets a caller settle on a run that started before its call", async () => {
    const g = gatedTask();
    const c = new CoalescedRun(g.task);
    const first = c.run();
    await settle();
    let lateDone = false;
    const late = c.run().then(() => (lateDone = true));
    g.finishOne();
    await first;
    await settle();
    assert.equal(lateDone, false, "the run that was going when it asked does not count for it");
    g.finishOne();
    await late;
  });

  it("runs one at a time", async () => {
    let running = 0;
    let most = 0;
    const c = new CoalescedRun(async () => {
      running++;
      most = Math.max(most, running);
      await settle(3);
      running--;
    });
    for (let i = 0; i < 5; i++) {
      void c.run();
      await settle(2);
    }
    await c.run();
    assert.equal(most, 1);
  });

  it("hands a run's failure to its callers and still runs the next", async () => {
    let fail = true;
    const c = new CoalescedRun(async () => {
      if (fail) throw new Error("boom");
    });
    await assert.rejects(c.run(), /boom/);
    fail = false;
    await c.run();
  });
});

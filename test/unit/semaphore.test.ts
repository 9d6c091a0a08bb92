import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Semaphore } from "../../agent/src/support/semaphore.js";

async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

describe("Semaphore", () => {
  it("runs at most `limit` tasks at once and the rest in arrival order", async () => {
    const sem = new Semaphore(2);
    const gates: (() => void)[] = [];
    const started: number[] = [];
    const all = Array.from({ length: 6 }, (_, i) =>
      sem.run(async () => {
        started.push(i);
        await new Promise<void>((r) => gates.push(r));
      }),
    );
    await settle();
    assert.deepEqual(started, [0, 1]);
    assert.equal(sem.queued, 4);
    gates.shift()?.();
    await settle();
    assert.deepEqual(started, [0, 1, 2]);
    while (gates.length || started.length < 6) {
      gates.shift()?.();
      await settle();
    }
    await Promise.all(all);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  });

  it("frees the slot when a task fails", async () => {
    const sem = new Semaphore(1);
    await assert.rejects(sem.run(async () => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(await sem.run(async () => 7), 7);
  });

  it("does not let a newcomer overtake a waiting task when a slot frees", async () => {
    const sem = new Semaphore(1);
    const order: string[] = [];
    let open!: () => void;
    const first = sem.run(() => new Promise<void>((r) => (open = r)));
    const waiting = sem.run(async () => void order.push("waiting"));
    await settle();
    open();
    const newcomer = sem.run(async () => void order.push("newcomer"));
    await Promise.all([first, waiting, newcomer]);
    assert.deepEqual(order, ["waiting", "newcomer"]);
  });

  it("refuses a limit that is not a whole number from 1", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new Semaphore(bad), RangeError);
  });
});

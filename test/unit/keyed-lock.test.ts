import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { KeyedLock } from "../../agent/src/support/keyed-lock.js";

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Let queued promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

function tails(lock: KeyedLock): Map<string, unknown> {
  return (lock as unknown as { tails: Map<string, unknown> }).tails;
}

describe("KeyedLock", () => {
  it("does not start a second task on the same key until the first finishes", async () => {
    const lock = new KeyedLock();
    const gate = deferred();
    const events: string[] = [];
    const a = lock.run("alice", async () => {
      events.push("a:start");
      await gate.promise;
      events.push("a:end");
      return "a";
    });
    const b = lock.run("alice", async () => {
      events.push("b:start");
      return "b";
    });
    await settle();
    assert.deepEqual(events, ["a:start"]);
    gate.resolve();
    assert.deepEqual(await Promise.all([a, b]), ["a", "b"]);
    assert.deepEqual(events, ["a:start", "a:end", "b:start"]);
  });

  it("runs tasks on different keys concurrently", async () => {
    const lock = new KeyedLock();
    const gate = deferred();
    const events: string[] = [];
    const a = lock.run("alice", async () => {
      events.push("alice:start");
      await gate.promise;
    });
    const b = lock.run("bob", async () => {
      events.push("bob:start");
      await gate.promise;
    });
    await settle();
    assert.deepEqual(events.sort(), ["alice:start", "bob:start"]);
    gate.resolve();
    await Promise.all([a, b]);
  });

  it("runs a task after a rejecting one and passes the rejection to its own caller only", async () => {
    const lock = new KeyedLock();
    const gate = deferred();
    const first = lock.run("alice", async () => {
      await gate.promise;
      throw new Error("boom");
    });
    const second = lock.run("alice", async () => "ok");
    gate.resolve();
    await assert.rejects(first, /boom/);
    assert.equal(await second, "ok");
  });

  it("runs a task after one that throws synchronously", async () => {
    const lock = new KeyedLock();
    const first = lock.run("alice", () => {
      throw new Error("sync boom");
    });
    const second = lock.run("alice", async () => 42);
    await assert.rejects(first, /sync boom/);
    assert.equal(await second, 42);
  });

  it("runs tasks on one key in the order they were queued", async () => {
    const lock = new KeyedLock();
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        lock.run("k", async () => {
          await new Promise((r) => setTimeout(r, 5 - i));
          order.push(i);
        }),
      ),
    );
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
  });

  it("never overlaps two tasks of one key under any interleaving (scheduler property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.boolean()), { minLength: 1, maxLength: 12 }), async (s, tasks) => {
        const lock = new KeyedLock();
        const running = new Map<string, number>();
        let maxOverlap = 0;
        const results = tasks.map(([key, fails], i) =>
          lock.run(key, async () => {
            const n = (running.get(key) ?? 0) + 1;
            running.set(key, n);
            maxOverlap = Math.max(maxOverlap, n);
            await s.schedule(Promise.resolve(), `task ${i} on ${key}`);
            running.set(key, (running.get(key) ?? 1) - 1);
            if (fails) throw new Error(`task ${i}`);
            return i;
          }),
        );
        const out = await s.waitFor(Promise.allSettled(results));
        assert.equal(maxOverlap, 1);
        out.forEach((r, i) => {
          const fails = tasks[i]?.[1];
          assert.equal(r.status, fails ? "rejected" : "fulfilled");
          if (r.status === "fulfilled") assert.equal(r.value, i);
        });
        assert.equal(tails(lock).size, 0);
      }),
    );
  });

  it("removes the key from its table once the last task on it settles", async () => {
    const lock = new KeyedLock();
    const gate = deferred();
    const a = lock.run("alice", () => gate.promise);
    const b = lock.run("alice", async () => undefined);
    const c = lock.run("bob", async () => {
      throw new Error("x");
    });
    assert.deepEqual([...tails(lock).keys()].sort(), ["alice", "bob"]);
    await assert.rejects(c);
    await settle();
    assert.deepEqual([...tails(lock).keys()], ["alice"]);
    gate.resolve();
    await Promise.all([a, b]);
    assert.equal(tails(lock).size, 0);
  });

  it("keeps the key while a later task is still queued behind a finished one", async () => {
    const lock = new KeyedLock();
    const gate = deferred();
    const a = lock.run("alice", async () => undefined);
    const b = lock.run("alice", () => gate.promise);
    await a;
    assert.ok(tails(lock).has("alice"));
    gate.resolve();
    await b;
    assert.equal(tails(lock).size, 0);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Writable } from "node:stream";
import { DrainGate, Valve, writeParts } from "../../agent/src/support/backpressure.js";
import { listenerPeak, SlowSink } from "./helpers/slow-streams.js";

function fill(sink: SlowSink, bytes: number): boolean {
  return sink.write(Buffer.alloc(bytes, 0x61));
}

describe("DrainGate", () => {
  it("waits for one drain per stall, however many writes and sources hit the full sink", () => {
    const sink = new SlowSink("manual", 16);
    const peak = listenerPeak(sink, "drain");
    const gate = new DrainGate(sink);
    const a = new PassThrough();
    const b = new PassThrough();
    for (let i = 0; i < 50; i++) gate.afterWrite(fill(sink, 8), i % 2 ? a : b);
    assert.equal(gate.stalled, true);
    assert.equal(peak(), 1, "one listener for the whole stall");
    assert.equal(sink.listenerCount("close"), 1);
    assert.equal(a.isPaused() && b.isPaused(), true, "every source that wrote into the full sink is held");
  });

  it("resumes every held source when the sink drains, and stops listening", async () => {
    const sink = new SlowSink("manual", 16);
    const gate = new DrainGate(sink);
    const a = new PassThrough();
    const b = new PassThrough();
    gate.afterWrite(fill(sink, 32), a);
    gate.afterWrite(fill(sink, 32), b);
    const drained = new Promise((resolve) => sink.once("drain", resolve));
    sink.release();
    await drained;
    assert.equal(a.isPaused() || b.isPaused(), false);
    assert.equal(gate.stalled, false);
    assert.equal(sink.listenerCount("drain"), 0);
    assert.equal(sink.listenerCount("close"), 0);
  });

  it("lets sources go when the sink closes instead of draining", async () => {
    const sink = new SlowSink("manual", 16);
    const gate = new DrainGate(sink);
    const a = new PassThrough();
    gate.afterWrite(fill(sink, 32), a);
    assert.equal(a.isPaused(), true);
    const closed = new Promise((resolve) => sink.once("close", resolve));
    sink.destroy();
    await closed;
    assert.equal(a.isPaused(), false);
  });

  it("does nothing while writes are accepted", () => {
    const sink = new SlowSink("manual", 1024);
    const gate = new DrainGate(sink);
    const a = new PassThrough();
    gate.afterWrite(fill(sink, 8), a);
    assert.equal(gate.stalled, false);
    assert.equal(a.isPaused(), false);
    assert.equal(sink.listenerCount("drain"), 0);
  });
});

describe("writeParts", () => {
  it("writes header and payload corked, so they reach the sink as one writev", () => {
    const batches: number[] = [];
    const sink = new Writable({
      highWaterMark: 1 << 20,
      write: (_c, _e, done) => {
        batches.push(1);
        done();
      },
      writev: (chunks, done) => {
        batches.push(chunks.length);
        done();
      },
    });
    assert.equal(writeParts(sink, [Buffer.from("h"), Buffer.from("payload")]), true);
    assert.deepEqual(batches, [2]);
  });

  it("says full when the sink is over its mark after the parts", () => {
    const sink = new SlowSink("manual", 16);
    assert.equal(writeParts(sink, [Buffer.alloc(5), Buffer.alloc(20)]), false);
  });
});

describe("Valve", () => {
  it("keeps the source paused while any reason holds it", () => {
    const source = new PassThrough();
    source.resume();
    const valve = new Valve(source);
    valve.hold("sink-full");
    valve.hold("no-channel");
    assert.equal(source.isPaused(), true);
    valve.release("sink-full");
    assert.equal(source.isPaused(), true, "the other reason still holds it");
    valve.release("no-channel");
    assert.equal(source.isPaused(), false);
  });

  it("tells its listener when the source stops and when it runs again, once each however many reasons", () => {
    const changes: boolean[] = [];
    const v = new Valve(new PassThrough(), (held) => changes.push(held));
    v.hold("a");
    v.hold("b");
    v.release("a");
    v.release("b");
    v.hold("c");
    v.releaseAll();
    assert.deepEqual(changes, [true, false, true, false]);
  });

  it("ignores the release of a reason that does not hold it", () => {
    const source = new PassThrough();
    const valve = new Valve(source);
    valve.hold("a");
    valve.release("b");
    assert.equal(source.isPaused(), true);
    assert.equal(valve.held, true);
  });

  it("hands out one Pausable per reason, so a gate holding it counts it once", () => {
    const source = new PassThrough();
    const valve = new Valve(source);
    assert.equal(valve.handle("x"), valve.handle("x"));
    valve.handle("x").pause();
    valve.handle("y").pause();
    valve.handle("x").resume();
    assert.equal(source.isPaused(), true);
    valve.releaseAll();
    assert.equal(source.isPaused(), false);
    assert.equal(valve.held, false);
  });
});

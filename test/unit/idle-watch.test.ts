import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { idleCheckEvery, watchIdle } from "../../agent/src/daemon/session/idle-watch.js";

/** Mocked setInterval and Date: the watch's clock and its timer move only when the test says. */
function clock(t: TestContext): (ms: number) => void {
  t.mock.timers.enable({ apis: ["setInterval", "Date"], now: 1_000_000 });
  return (ms) => t.mock.timers.tick(ms);
}

describe("watchIdle", () => {
  it("fires once after the timeout without activity, not before", (t) => {
    const advance = clock(t);
    let fired = 0;
    watchIdle(10_000, () => fired++);
    advance(7_500);
    assert.equal(fired, 0);
    advance(2_500);
    assert.equal(fired, 1);
    advance(60_000);
    assert.equal(fired, 1, "it stops itself once it has fired");
  });

  it("starts over on activity", (t) => {
    const advance = clock(t);
    let fired = 0;
    const w = watchIdle(10_000, () => fired++);
    assert.ok(w);
    for (let i = 0; i < 10; i++) {
      advance(5_000);
      w.touch();
    }
    assert.equal(fired, 0, "50 s of activity every 5 s");
    advance(10_000);
    assert.equal(fired, 1);
  });

  it("never fires once stopped", (t) => {
    const advance = clock(t);
    let fired = 0;
    const w = watchIdle(1_000, () => fired++);
    w?.stop();
    advance(10_000);
    assert.equal(fired, 0);
  });

  it("with a probe (bytes that bypass the daemon), counts a changed value as activity and a same one as none", (t) => {
    const advance = clock(t);
    let fired = 0;
    let counters = "100 100";
    watchIdle(10_000, () => fired++, undefined, () => counters);
    for (let i = 0; i < 10; i++) {
      counters = `${100 + i} 100`;
      advance(2_500);
    }
    assert.equal(fired, 0, "25 s of moving counters");
    advance(10_000);
    assert.equal(fired, 1, "still counters: idle after the timeout");
  });

  it("is off when the timeout is 0", () => {
    assert.equal(
      watchIdle(0, () => assert.fail("fired")),
      null,
    );
  });

  it("checks a quarter of the timeout apart, within 0.25-30 s", () => {
    assert.equal(idleCheckEvery(10_000), 2_500);
    assert.equal(idleCheckEvery(400), 250);
    assert.equal(idleCheckEvery(3_600_000), 30_000);
  });
});

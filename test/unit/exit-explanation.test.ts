import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { explainExit, exitStatusOf, mayNeedExplaining, type ExitFacts } from "../../agent/src/core/container/exit-explanation.js";
import { lifetimeLeftMs, lifetimeWarning } from "../../agent/src/core/container/lifetime-notice.js";

const MiB = 1024 ** 2;
const base: ExitFacts = { code: 137, oomKillsBefore: 2, oomKillsAfter: 3, memoryLimitBytes: 512 * MiB, container: "running" };

describe("explainExit", () => {
  it("says out of memory with the limit when the status is 137 and the container's OOM counter rose", () => {
    assert.equal(explainExit(base), "killed: out of memory (limit 512m)");
    assert.equal(explainExit({ ...base, memoryLimitBytes: 2 * 1024 * MiB }), "killed: out of memory (limit 2g)");
    assert.equal(explainExit({ ...base, memoryLimitBytes: null }), "killed: out of memory");
  });

  it("says nothing about memory when the counter did not rise (a plain kill -9), or could not be read", () => {
    assert.equal(explainExit({ ...base, oomKillsAfter: 2 }), null);
    assert.equal(explainExit({ ...base, oomKillsBefore: null }), null);
    assert.equal(explainExit({ ...base, oomKillsAfter: null }), null);
  });

  it("leaves an ordinary exit status alone, even if something else in the container was OOM-killed", () => {
    for (const code of [0, 1, 42, 127]) assert.equal(explainExit({ ...base, code }), null, `code ${code}`);
    assert.equal(mayNeedExplaining(127), false);
    assert.equal(mayNeedExplaining(128), true);
    assert.equal(mayNeedExplaining(null), true);
  });

  it("does not blame memory for another signal (SIGTERM, 143)", () => {
    assert.equal(explainExit({ ...base, code: 143 }), null);
  });

  it("says the engine went away when it does not answer after the process ended", () => {
    assert.match(explainExit({ ...base, code: null, oomKillsAfter: 2, container: "engine-down" }) ?? "", /^the container engine on this node stopped answering during the session/);
  });

  it("says the container stopped when it is no longer running (or gone) after a signal death", () => {
    for (const container of ["stopped", "missing"] as const) {
      assert.match(explainExit({ ...base, oomKillsAfter: 2, container }) ?? "", /^your environment's container stopped during the session/);
    }
  });

  it("prefers the OOM reason over the container having stopped with it", () => {
    assert.equal(explainExit({ ...base, container: "stopped" }), "killed: out of memory (limit 512m)");
  });

  it("leaves with 255 when the engine could not report a status", () => {
    assert.equal(exitStatusOf(null), 255);
    assert.equal(exitStatusOf(137), 137);
  });
});

describe("lifetimeWarning", () => {
  const MIN = 60_000;

  it("warns below 10 minutes left, rounding up to whole minutes", () => {
    assert.equal(lifetimeWarning(7 * MIN), "this environment will be removed in 7 min (max_lifetime)");
    assert.equal(lifetimeWarning(6 * MIN + 1), "this environment will be removed in 7 min (max_lifetime)");
    assert.equal(lifetimeWarning(10 * MIN - 1), "this environment will be removed in 10 min (max_lifetime)");
  });

  it("says within a minute for the last minute, including none left", () => {
    assert.equal(lifetimeWarning(MIN), "this environment will be removed within a minute (max_lifetime)");
    assert.equal(lifetimeWarning(0), "this environment will be removed within a minute (max_lifetime)");
  });

  it("is silent at 10 minutes or more, and without a max_lifetime", () => {
    assert.equal(lifetimeWarning(10 * MIN), null);
    assert.equal(lifetimeWarning(null), null);
  });

  it("counts the time left from the container's creation, never below zero", () => {
    assert.equal(lifetimeLeftMs(1000, 9 * MIN, 1000 + 2 * MIN), 7 * MIN);
    assert.equal(lifetimeLeftMs(1000, 9 * MIN, 1000 + 20 * MIN), 0);
    assert.equal(lifetimeLeftMs(1000, 0, 5000), null, "0 means no lifetime");
  });
});

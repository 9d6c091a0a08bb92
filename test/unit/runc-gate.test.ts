import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { UserFacingError } from "../../agent/src/core/errors.js";
import { RUNC_PROJECT_REFUSAL, RUNC_REFUSAL, RuncGate } from "../../agent/src/daemon/runc-gate.js";
import type { RuncFacts } from "../../agent/src/adapters/process/runc-probe.js";

const facts = (version: string, changelog: string | null = null): RuncFacts => ({ versionOutput: `runc version ${version}\ncommit: x\n`, changelog });
const refusal = (message: string) => (e: unknown) => e instanceof UserFacingError && e.code === "runc-vulnerable" && e.message === message;

function gate(start: RuncFacts | Error, accepted: string[] = [], runtime: { now: "runc" | "runsc" } = { now: "runc" }) {
  let now: RuncFacts | Error = start;
  const g = new RuncGate({ probe: async () => (now instanceof Error ? Promise.reject(now) : now), accepted: () => accepted, sessionRuntime: () => runtime.now });
  return { g, set: (f: RuncFacts | Error) => (now = f) };
}

describe("RuncGate", () => {
  it("refuses everything before its first check", () => {
    const { g } = gate(facts("1.3.3"));
    assert.throws(() => g.require("session"), refusal(RUNC_REFUSAL));
  });

  it("lets sessions and projects through on a runc with no open advisory", async () => {
    const { g } = gate(facts("1.3.3"));
    assert.equal(await g.check(), null);
    g.require("session");
    g.require("project");
  });

  it("with only escapes through images open: sessions in the default environment run, project environments are refused", async () => {
    const { g } = gate(facts("1.1.12"));
    assert.match((await g.check()) ?? "", /runc 1\.1\.12 has CVE-2024-45310 .*CVE-2025-52881 .*accept them by id in engine\.accept_runc_advisories/);
    g.require("session");
    assert.throws(() => g.require("project"), refusal(RUNC_PROJECT_REFUSAL));
  });

  it("with an escape a session can use: every session is refused", async () => {
    const { g } = gate(facts("1.1.5"));
    await g.check();
    assert.throws(() => g.require("session"), refusal(RUNC_REFUSAL));
    assert.throws(() => g.require("project"), refusal(RUNC_PROJECT_REFUSAL));
    assert.deepEqual(g.status().refusing.slice(0, 1), ["CVE-2024-21626"]);
  });

  it("lets through what the admin accepted", async () => {
    const { g } = gate(facts("1.1.12"), ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
    assert.equal(await g.check(), null);
    g.require("project");
  });

  it("refuses everything while runc cannot be run, and recovers at the next check after an upgrade", async () => {
    const { g, set } = gate(new Error("spawn runc ENOENT"));
    assert.match((await g.check()) ?? "", /runc could not be checked: Error: spawn runc ENOENT/);
    assert.throws(() => g.require("session"), refusal(RUNC_REFUSAL));
    set(facts("1.3.3"));
    assert.equal(await g.check(), null);
    g.require("session");
  });

  it("on a gVisor node, sessions run on a runc with a session escape (runsc runs them), project environments are still refused (builds run on runc)", async () => {
    const runtime = { now: "runsc" as "runc" | "runsc" };
    const { g } = gate(facts("1.1.5"), [], runtime);
    await g.check();
    g.require("session");
    assert.throws(() => g.require("project"), refusal(RUNC_PROJECT_REFUSAL));
    runtime.now = "runc";
    assert.throws(() => g.require("session"), refusal(RUNC_REFUSAL), "back on runc (a reloaded config), sessions are refused again");
  });

  it("on a gVisor node, sessions run even while runc cannot be checked; projects do not", async () => {
    const { g } = gate(new Error("spawn runc ENOENT"), [], { now: "runsc" });
    await g.check();
    g.require("session");
    assert.throws(() => g.require("project"), refusal(RUNC_PROJECT_REFUSAL));
  });
});

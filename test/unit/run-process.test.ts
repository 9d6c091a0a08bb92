import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CLEAN_ENV, describeExit, ProcessStartError, runProcess } from "../../agent/src/adapters/process/run-process.js";

/** Not exited (a zombie still answers kill(pid, 0), so look at its state). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("runProcess", () => {
  it("passes argv to the program as text, never through a shell", async () => {
    const r = await runProcess("/bin/echo", ["$(id -u)", ";", "|", "`whoami`", "*"]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "$(id -u) ; | `whoami` *\n");
  });

  it("gives the child a clean environment unless told otherwise", async () => {
    process.env["PODSPAWN_RUN_PROCESS_TEST"] = "leaked";
    try {
      const clean = await runProcess("/usr/bin/env", []);
      assert.deepEqual(clean.stdout.trim().split("\n").sort(), Object.entries(CLEAN_ENV).map(([k, v]) => `${k}=${v}`).sort());
      const given = await runProcess("/usr/bin/env", [], { env: { ONLY: "this" } });
      assert.equal(given.stdout, "ONLY=this\n");
    } finally {
      delete process.env["PODSPAWN_RUN_PROCESS_TEST"];
    }
  });

  it("reports the exit status and both streams separately", async () => {
    const r = await runProcess("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"]);
    assert.deepEqual([r.code, r.signal, r.timedOut, r.stdout, r.stderr, r.truncated], [3, null, false, "out\n", "err\n", false]);
    assert.equal(describeExit(r), "exit 3");
  });

  it("kills a process that outlives its deadline and says it timed out", async () => {
    const r = await runProcess("/bin/sleep", ["30"], { timeoutMs: 100 });
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    assert.equal(r.signal, "SIGKILL");
    assert.equal(describeExit(r, 100), "timed out after 100 ms");
  });

  it("returns by the deadline when a left-behind grandchild holds its output open", async () => {
    const r = await runProcess("/bin/sh", ["-c", "sleep 5 & echo $!; exit 0"], { timeoutMs: 300 });
    const orphan = Number(r.stdout.trim());
    try {
      assert.equal(r.code, 0);
      assert.equal(r.timedOut, false, "the program itself exited in time");
      // Still running: the result came at the deadline, not when the grandchild let go of the pipe.
      assert.ok(isRunning(orphan), "the grandchild is still running");
    } finally {
      if (orphan > 1) process.kill(orphan, "SIGKILL");
    }
  });

  it("keeps at most maxOutputBytes of each stream, drains the rest and marks the result truncated", async () => {
    const r = await runProcess("/usr/bin/head", ["-c", "1000000", "/dev/zero"], { maxOutputBytes: 1000 });
    assert.equal(r.code, 0, "the child was not blocked on a full pipe");
    assert.equal(r.stdout.length, 1000);
    assert.equal(r.truncated, true);
  });

  it("rejects, naming the program, when it cannot be started", async () => {
    await assert.rejects(runProcess("/nonexistent/podspawn-prog", []), (err: unknown) => err instanceof ProcessStartError && /\/nonexistent\/podspawn-prog/.test(err.message));
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { identify, signalIfSame, startTimeOf } from "../../agent/src/adapters/process/process-identity.js";

function sleeper(): Promise<ChildProcess> {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  return new Promise((resolve, reject) => child.once("spawn", () => resolve(child)).once("error", reject));
}

function exitOf(child: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
}

describe("process identity before a signal", () => {
  it("reads the start time (field 22) even when the command name holds blanks and parentheses", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    assert.equal(startTimeOf(`4242 (a) (b c) ${fields.join(" ")}`), "22");
    assert.equal(startTimeOf("4242 (x) S"), null);
  });

  it("signals the very process it identified", async () => {
    const child = await sleeper();
    const who = identify(child.pid as number);
    assert.ok(who, "a live process has an identity");
    const exit = exitOf(child);
    assert.equal(signalIfSame(who, "SIGTERM"), true);
    assert.equal(await exit, "SIGTERM");
  });

  it("refuses to signal a live process that now has the pid but is not the one identified (pid reuse)", async () => {
    const other = await sleeper();
    try {
      const real = identify(other.pid as number);
      assert.ok(real);
      const earlier = { pid: other.pid as number, startTime: String(Number(real.startTime) - 1) };
      assert.equal(signalIfSame(earlier, "SIGKILL"), false);
      assert.equal(other.exitCode, null);
      assert.equal(other.signalCode, null);
      assert.doesNotThrow(() => process.kill(other.pid as number, 0), "still alive");
    } finally {
      other.kill("SIGKILL");
    }
  });

  it("sends nothing once the process has gone", async () => {
    const child = await sleeper();
    const who = identify(child.pid as number);
    assert.ok(who);
    const exit = exitOf(child);
    child.kill("SIGKILL");
    await exit;
    const sent: number[] = [];
    assert.equal(signalIfSame(who, "SIGTERM", undefined, (pid) => void sent.push(pid)), false);
    assert.deepEqual(sent, []);
  });
});

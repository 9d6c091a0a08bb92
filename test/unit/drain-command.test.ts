import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { makeDrainCommand, DRAIN_WAIT_TIMED_OUT } from "../../agent/src/cli/commands/node/drain.js";
import type { DrainDeps } from "../../agent/src/cli/commands/node/drain-deps.js";
import { makeUndrainCommand } from "../../agent/src/cli/commands/node/undrain.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** A daemon whose live sessions follow `sessionsOverTime` (one value per poll) on a fake clock. */
function fakeDeps(sessionsOverTime: number[], wasDrained = false): DrainDeps & { log: string[] } {
  const log: string[] = [];
  let now = 0;
  let polls = 0;
  return {
    log,
    drain: async (_l, req) => {
      log.push(`daemon drain=${req.drain} reason=${req.reason}`);
      return { ok: true, drained: req.drain, reason: req.reason, since: req.drain ? "2025-01-01T00:00:00.000Z" : null, wasDrained, sessions: sessionsOverTime[0] ?? 0 };
    },
    sessions: async () => sessionsOverTime[Math.min(polls++, sessionsOverTime.length - 1)] ?? 0,
    mark: async (on, _l, target) => (log.push(`sshd mark=${on} ${target.configPath} ${target.pidFile ?? "-"}`), on ? "wrote mark" : "removed mark"),
    sleep: async (ms) => {
      log.push(`sleep ${ms}`);
      now += ms;
    },
    now: () => now,
  };
}

async function run(cmd: ReturnType<typeof makeDrainCommand>, argv: string[]): Promise<{ code: number; out: string }> {
  const stdout = new Sink();
  const code = await cmd.run(argv, { stdout, stderr: new Sink(), env: {}, layout: layoutFor("podspawn-x") });
  return { code, out: stdout.text };
}

describe("podspawn drain", () => {
  it("drains the daemon first, then marks sshd's banner, and says how many sessions are live", async () => {
    const d = fakeDeps([2]);
    const r = await run(makeDrainCommand(() => d), ["--reason", "upgrade", "--sshd-config", "/etc/x/sshd_config", "--sshd-pid-file", "/run/x.pid"]);
    assert.equal(r.code, 0);
    assert.deepEqual(d.log, ["daemon drain=true reason=upgrade", "sshd mark=true /etc/x/sshd_config /run/x.pid"]);
    assert.equal(r.out, "node drained: no new environments; 2 live session(s)\nwrote mark\n");
  });

  it("--wait polls until the sessions are gone, and --json says what it was", async () => {
    const d = fakeDeps([2, 1, 0], true);
    const r = await run(makeDrainCommand(() => d), ["--wait", "1m", "--json"]);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.out), { drained: true, wasDrained: true, reason: null, since: "2025-01-01T00:00:00.000Z", sessions: 0, timedOut: false });
    assert.deepEqual(d.log.filter((l) => l.startsWith("sleep")), ["sleep 1000", "sleep 1000"]);
  });

  it(`--wait exits ${DRAIN_WAIT_TIMED_OUT} when sessions are still live at the deadline, after waiting exactly that long`, async () => {
    const d = fakeDeps([1]);
    const r = await run(makeDrainCommand(() => d), ["--wait", "2500ms", "--json"]);
    assert.equal(r.code, DRAIN_WAIT_TIMED_OUT);
    assert.equal(JSON.parse(r.out).timedOut, true);
    assert.deepEqual(d.log.filter((l) => l.startsWith("sleep")), ["sleep 1000", "sleep 1000", "sleep 500"]);
  });

  it("refuses a reason that is not one line, before touching anything", async () => {
    const d = fakeDeps([0]);
    await assert.rejects(run(makeDrainCommand(() => d), ["--reason", "a\nb"]), /--reason: "a\\nb" is not a one-line reason/);
    assert.deepEqual(d.log, []);
  });
});

describe("podspawn undrain", () => {
  it("opens the daemon before it takes the mark off, so clients that come back are let in", async () => {
    const d = fakeDeps([0], true);
    const r = await run(makeUndrainCommand(() => d), []);
    assert.equal(r.code, 0);
    assert.deepEqual(d.log, ["daemon drain=false reason=null", "sshd mark=false /etc/ssh/sshd_config -"]);
    assert.equal(r.out, "node open: new environments are created again\nremoved mark\n");
  });
});

import { InputError } from "../../../core/errors.js";
import { parseDurationMs } from "../../../core/config/units.js";
import { validateDrainReason } from "../../../core/host/drain.js";
import { defineCommand, type Command } from "../../command.js";
import { defaultDrainDeps, type DrainDeps } from "./drain-deps.js";

/** Exit status of `drain --wait` when sessions were still open at the deadline. */
export const DRAIN_WAIT_TIMED_OUT = 3;
const POLL_MS = 1000;

export const SSHD_FLAGS = {
  "sshd-config": { type: "string", value: "PATH", default: "/etc/ssh/sshd_config", description: "the main sshd config (set up by server-setup)" },
  "sshd-pid-file": { type: "string", value: "FILE", description: "send SIGHUP to this sshd instead of systemctl / /run/sshd.pid" },
} as const;

/** Polls until no session is live or `waitMs` has passed; returns the sessions left. */
async function waitForSessions(deps: DrainDeps, sessions: () => Promise<number>, waitMs: number): Promise<number> {
  const deadline = deps.now() + waitMs;
  let left = await sessions();
  while (left > 0 && deps.now() < deadline) {
    await deps.sleep(Math.min(POLL_MS, Math.max(0, deadline - deps.now())));
    left = await sessions();
  }
  return left;
}

export function makeDrainCommand(deps: () => DrainDeps = defaultDrainDeps): Command {
  return defineCommand(
    {
      name: "drain",
      summary: "stop this node taking new environments (existing sessions go on)",
      flags: {
        reason: { type: "string", value: "TEXT", description: "why, for the admin (status file, daemon log)" },
        wait: { type: "string", value: "DURATION", description: `then wait until no session is live, at most this long (exit ${DRAIN_WAIT_TIMED_OUT} if some still are)` },
        json: { type: "boolean", description: "print one JSON object instead of lines" },
        ...SSHD_FLAGS,
      },
      description: `Drains the node: the daemon refuses to create environments (one line for the user), while
open sessions go on and a user whose environment is still here gets back into it. sshd then
announces it in its identification line (VersionAddendum podspawn-draining), which 'podspawn
connect' reads before any login and so routes new logins to another node. Kept across daemon
restarts and agent upgrades until 'podspawn undrain'. Needs root and a running daemon.`,
    },
    async ({ flags }, io) => {
      const d = deps();
      const reason = flags.reason === undefined ? null : validateDrainReason(flags.reason);
      const waitMs = flags.wait === undefined ? null : parseDurationMs(flags.wait, "--wait");
      if (waitMs !== null && waitMs < 0) throw new InputError("--wait", "must not be negative", "e.g. 10m");
      const res = await d.drain(io.layout, { op: "drain", drain: true, reason });
      const sshd = await d.mark(true, io.layout, { configPath: flags["sshd-config"], ...(flags["sshd-pid-file"] ? { pidFile: flags["sshd-pid-file"] } : {}) });
      const left = waitMs === null ? res.sessions : await waitForSessions(d, () => d.sessions(io.layout), waitMs);
      const timedOut = waitMs !== null && left > 0;
      if (flags.json) {
        io.stdout.write(JSON.stringify({ drained: true, wasDrained: res.wasDrained, reason: res.reason, since: res.since, sessions: left, timedOut }) + "\n");
      } else {
        io.stdout.write(`node drained${res.wasDrained ? ` (already, since ${res.since ?? "?"})` : ""}: no new environments; ${left} live session(s)\n${sshd}\n`);
        if (timedOut) io.stdout.write(`still ${left} live session(s) after ${flags.wait}\n`);
      }
      return timedOut ? DRAIN_WAIT_TIMED_OUT : 0;
    },
  );
}

export const drainCommand: Command = makeDrainCommand();

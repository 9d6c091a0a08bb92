import { Writable } from "node:stream";
import { explainExit, exitStatusOf, KILLED_STATUS } from "../../core/container/exit-explanation.js";
import type { ForwardedSignal } from "../../core/protocol/session-request.js";
import type { DirectProcess } from "../../adapters/runc/runc-exec.js";
import type { Channel, ChannelEnd, ChannelFacts } from "./channel.js";
import { HANGUP_KILL_MS } from "./exec-channel.js";
import type { ExitExplainer } from "./exit-notice.js";

/**
 * A process that has the client's own pipes as its stdio (daemon/direct-io): no bytes pass
 * through the session, so there is no input to write and no output to relay. The session's
 * lifetime is still the spawn connection, and its end still ends the process.
 */
export function openDirectExecChannel(proc: DirectProcess, facts: ChannelFacts, explainer?: ExitExplainer): Channel {
  const finished = proc.exited.then(async (code): Promise<ChannelEnd> => {
    // The direct path sees what the engine may not report yet: the container's init has gone.
    const stopped = code === KILLED_STATUS && !proc.containerAlive();
    const notice = stopped ? explainExit({ code, oomKillsBefore: null, oomKillsAfter: null, memoryLimitBytes: null, container: "stopped" }) : ((await explainer?.explain(code)) ?? null);
    return notice === null ? { code: exitStatusOf(code) } : { code: exitStatusOf(code), notice };
  });
  return {
    facts: { ...facts, stdio: "direct" },
    // spawn sends no STDIN frames on this path; any that come anyway have nowhere to go.
    input: new Writable({ write: (_chunk, _enc, done) => done() }),
    outputs: [],
    finished,
    signal: (signal: ForwardedSignal) => proc.signal(signal),
    activity: () => proc.ioCounters(),
    hangUp: () => {
      proc.signal("SIGHUP");
      // Whether or not the command has exited by then: anything still holding the user's pipes
      // keeps the user's ssh open, so the forced end goes through with it.
      setTimeout(() => proc.kill(), HANGUP_KILL_MS).unref();
    },
  };
}

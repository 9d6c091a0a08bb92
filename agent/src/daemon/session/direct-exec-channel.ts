import { Writable } from "node:stream";
import { exitStatusOf } from "../../core/container/exit-explanation.js";
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
  let exited = false;
  const finished = proc.exited.then(async (code): Promise<ChannelEnd> => {
    exited = true;
    const notice = (await explainer?.explain(code)) ?? null;
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
      setTimeout(() => {
        if (!exited) proc.kill();
      }, HANGUP_KILL_MS).unref();
    },
  };
}

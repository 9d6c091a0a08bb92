import { setTimeout as sleep } from "node:timers/promises";
import { sendControl } from "../../../adapters/daemon/control-client.js";
import { runProcess } from "../../../adapters/process/run-process.js";
import { setSshdDrainMark, type SshdTarget } from "../../../adapters/sshd/drain-mark.js";
import { defaultReloadDeps } from "../../../adapters/sshd/sshd.js";
import { UserFacingError } from "../../../core/errors.js";
import type { Layout } from "../../../core/host/layout.js";
import type { RequestOf, SuccessOf } from "../../../core/protocol/control-protocol.js";

/** What `drain` and `undrain` touch: the daemon, sshd's drain mark, the clock. Injected in tests. */
export interface DrainDeps {
  readonly drain: (layout: Layout, request: RequestOf<"drain">) => Promise<SuccessOf<"drain">>;
  /** The live sessions now (status op). */
  readonly sessions: (layout: Layout) => Promise<number>;
  readonly mark: (on: boolean, layout: Layout, target: SshdTarget) => Promise<string>;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

async function answered<T>(layout: Layout, what: string, res: T | { readonly ok: false; readonly error: string } | null): Promise<T> {
  if (res === null) throw new UserFacingError("daemon-down", `the node daemon is not running (no ${layout.controlSocket}); start it first`);
  if (typeof res === "object" && res !== null && "ok" in res && res.ok === false) throw new UserFacingError("daemon-error", `the daemon refused ${what}: ${(res as { error: string }).error}`);
  return res as T;
}

export function defaultDrainDeps(): DrainDeps {
  return {
    drain: async (layout, request) => answered<SuccessOf<"drain">>(layout, "drain", await sendControl(layout, request)),
    sessions: async (layout) => {
      const res = await answered<SuccessOf<"status">>(layout, "status", await sendControl(layout, { op: "status" }));
      return res.containers.reduce((n, c) => n + c.sessions, 0);
    },
    mark: (on, layout, target) => setSshdDrainMark(on, layout, target, { run: runProcess, reload: defaultReloadDeps() }),
    sleep: (ms) => sleep(ms).then(() => undefined),
    now: Date.now,
  };
}

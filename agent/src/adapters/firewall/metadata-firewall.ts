import type { Logger } from "../../daemon/log.js";
import { describeExit, processMessage, runProcess, type RunProcess } from "../process/run-process.js";

/** `-w` waits for the xtables lock; bounded so a wedged iptables cannot hold the daemon's start. */
const IPTABLES_TIMEOUT_MS = 10_000;

/**
 * Containers must not reach the cloud instance metadata service (credentials of the node role).
 * Docker evaluates DOCKER-USER before its own rules for all bridge traffic, so one DROP there
 * covers every pod network. Idempotent (-C before -I). The bootstrap persists it across reboots;
 * the daemon re-asserts it because Docker recreates the chain when it restarts.
 */
export async function ensureMetadataBlock(log: Logger, iptables = "iptables", run: RunProcess = runProcess): Promise<void> {
  const rule = ["DOCKER-USER", "-d", "169.254.169.254/32", "-j", "DROP"];
  const iptablesRun = (action: string): Promise<string | null> =>
    run(iptables, ["-w", action, ...rule], { timeoutMs: IPTABLES_TIMEOUT_MS }).then(
      (r) => (r.code === 0 ? null : `${describeExit(r, IPTABLES_TIMEOUT_MS)}: ${processMessage(r)}`),
      (err: unknown) => String(err),
    );
  if ((await iptablesRun("-C")) === null) return;
  const failed = await iptablesRun("-I");
  if (failed !== null) log({ kind: "warning", message: `could not install the metadata block rule in DOCKER-USER: ${failed}` });
}

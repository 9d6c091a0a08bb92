import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Logger } from "../../daemon/log.js";

const run = promisify(execFile);

/**
 * Containers must not reach the cloud instance metadata service (credentials of the node role).
 * Docker evaluates DOCKER-USER before its own rules for all bridge traffic, so one DROP there
 * covers every pod network. Idempotent (-C before -I). The bootstrap persists it across reboots;
 * the daemon re-asserts it because Docker recreates the chain when it restarts.
 */
export async function ensureMetadataBlock(log: Logger, iptables = "iptables"): Promise<void> {
  const rule = ["DOCKER-USER", "-d", "169.254.169.254/32", "-j", "DROP"];
  try {
    await run(iptables, ["-w", "-C", ...rule]);
  } catch {
    try {
      await run(iptables, ["-w", "-I", ...rule]);
    } catch (err) {
      log({ kind: "warning", message: `could not install the metadata block rule in DOCKER-USER: ${String(err).split("\n")[0]}` });
    }
  }
}

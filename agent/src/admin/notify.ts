import { describeError } from "../core/errors.js";
import type { AdminDeps } from "./deps.js";

/** Tell the daemon the registry changed; a missing daemon is fine, a failing one is a warning. */
export async function notifyReload(deps: Pick<AdminDeps, "control" | "say" | "warn">): Promise<void> {
  try {
    const res = await deps.control({ op: "reload" });
    if (res === null) deps.say("daemon not running; it reads the registry when it starts");
    else if (!res.ok) deps.warn(`warning: the daemon refused to reload: ${res.error}`);
  } catch (err) {
    deps.warn(`warning: could not notify the daemon: ${describeError(err)}`);
  }
}

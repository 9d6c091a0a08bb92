import { sendControl } from "../../../adapters/daemon/control-client.js";
import { UserFacingError } from "../../../core/errors.js";
import type { Layout } from "../../../core/host/layout.js";
import type { ControlRequest, ResponseByOp } from "../../../core/protocol/control-protocol.js";

/** One control request whose success the command needs: a missing daemon or a refusal is one line. */
export async function daemonAnswer<R extends ControlRequest>(layout: Layout, request: R, timeoutMs?: number): Promise<ResponseByOp[R["op"]]> {
  const res = await sendControl(layout, request, timeoutMs);
  if (res === null) throw new UserFacingError("daemon-down", `the node daemon is not running (no ${layout.controlSocket})`);
  if (!res.ok) throw new UserFacingError("daemon-error", `the daemon refused: ${res.error}`);
  return res as ResponseByOp[R["op"]];
}

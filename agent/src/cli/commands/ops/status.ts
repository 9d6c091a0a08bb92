import { sendControl } from "../../../adapters/daemon/control-client.js";
import type { ContainerInfo } from "../../../core/protocol/control-protocol.js";
import { UserFacingError } from "../../../core/errors.js";
import { defineCommand, type Command } from "../../command.js";

function renderTable(containers: readonly ContainerInfo[]): string {
  if (containers.length === 0) return "no environments\n";
  const rows = [["CONTAINER", "USER", "PROJECT", "SESSIONS", "STATE"], ...containers.map((c) => [c.name, c.user, c.project, String(c.sessions), c.state])];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd() + "\n").join("");
}

export const statusCommand: Command = defineCommand(
  {
    name: "status",
    summary: "show the node daemon's containers and live sessions",
    flags: { json: { type: "boolean", description: "print JSON (containers and sessions) instead of a table" } },
    description: `Asks the node daemon (over its root-only control socket) for its environments: one line per
container with its user, project, live session count and state ("in-use" while a session is
connected, "idle" while it waits out the grace period). Exits 1 if the daemon is not running.`,
  },
  async ({ flags }, io) => {
    const res = await sendControl(io.layout, { op: "status" });
    if (res === null) throw new UserFacingError("daemon-down", `the node daemon is not running (no ${io.layout.controlSocket})`);
    if (!res.ok) throw new UserFacingError("daemon-error", `the daemon refused: ${res.error}`);
    io.stdout.write(flags.json ? JSON.stringify({ containers: res.containers, sessions: res.sessions }, null, 2) + "\n" : renderTable(res.containers));
    return 0;
  },
);

import { sendControl } from "../../../adapters/daemon/control-client.js";
import { InputError, UserFacingError } from "../../../core/errors.js";
import { parseFlags } from "../../args.js";
import type { Command } from "../../command.js";

const USAGE = `Usage: podspawn status [--json]

Asks the node daemon (over its root-only control socket) for its environments: one line per
container with its user, project, live session count and state ("in-use" while a session is
connected, "idle" while it waits out the grace period). Exits 1 if the daemon is not running.
`;

export const statusCommand: Command = {
  name: "status",
  summary: "show the node daemon's containers and live sessions",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseFlags("status", argv, { json: { type: "boolean", default: false } }, true);
    if (positionals.length > 0) throw new InputError("status", "takes no arguments", "--json");
    const res = await sendControl(io.layout, { op: "status" });
    if (res === null) throw new UserFacingError("daemon-down", `the node daemon is not running (no ${io.layout.controlSocket})`);
    if (!res.ok) throw new UserFacingError("daemon-error", `the daemon refused: ${res.error}`);
    if (values.json) {
      io.stdout.write(JSON.stringify({ containers: res.containers, sessions: res.sessions }, null, 2) + "\n");
      return 0;
    }
    if (res.containers.length === 0) {
      io.stdout.write("no environments\n");
      return 0;
    }
    const rows = [["CONTAINER", "USER", "PROJECT", "SESSIONS", "STATE"], ...res.containers.map((c) => [c.name, c.user, c.project, String(c.sessions), c.state])];
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
    for (const r of rows) io.stdout.write(r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd() + "\n");
    return 0;
  },
};

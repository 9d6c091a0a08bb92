import { sendControl } from "../../../adapters/daemon/control-client.js";
import { UserFacingError } from "../../../core/errors.js";
import { defineCommand, type Command } from "../../command.js";

export const metricsCommand: Command = defineCommand(
  {
    name: "metrics",
    summary: "print the node daemon's metrics (Prometheus text format)",
    flags: {},
    description: `Prints the node daemon's metrics in the Prometheus text format (0.0.4), asked over its root-only
control socket. Exits 1 if the daemon is not running.`,
    notes: `For node_exporter's textfile collector, run it from a timer and rename into place:
  podspawn metrics > DIR/podspawn.prom.tmp && mv DIR/podspawn.prom.tmp DIR/podspawn.prom
To serve them over HTTP instead, set metrics_listen in config.yaml.`,
  },
  async (_line, io) => {
    const res = await sendControl(io.layout, { op: "metrics" });
    if (res === null) throw new UserFacingError("daemon-down", `the node daemon is not running (no ${io.layout.controlSocket})`);
    if (!res.ok) throw new UserFacingError("daemon-error", `the daemon refused: ${res.error}`);
    io.stdout.write(res.text);
    return 0;
  },
);

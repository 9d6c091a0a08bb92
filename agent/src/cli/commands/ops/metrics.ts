import { sendControl } from "../../../adapters/daemon/control-client.js";
import { UserFacingError } from "../../../core/errors.js";
import { parseFlags } from "../../args.js";
import type { Command } from "../../command.js";

const USAGE = `Usage: podspawn metrics

Prints the node daemon's metrics in the Prometheus text format (0.0.4), asked over its root-only
control socket. For node_exporter's textfile collector, run it from a timer and rename into place:
  podspawn metrics > DIR/podspawn.prom.tmp && mv DIR/podspawn.prom.tmp DIR/podspawn.prom
To serve them over HTTP instead, set metrics_listen in config.yaml. Exits 1 if the daemon is not
running.
`;

export const metricsCommand: Command = {
  name: "metrics",
  summary: "print the node daemon's metrics (Prometheus text format)",
  usage: USAGE,
  async run(argv, io) {
    parseFlags("metrics", argv, {});
    const res = await sendControl(io.layout, { op: "metrics" });
    if (res === null) throw new UserFacingError("daemon-down", `the node daemon is not running (no ${io.layout.controlSocket})`);
    if (!res.ok) throw new UserFacingError("daemon-error", `the daemon refused: ${res.error}`);
    io.stdout.write(res.text);
    return 0;
  },
};

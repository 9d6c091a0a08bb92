import { DockerImageBuilder } from "../../adapters/docker/docker-image-builder.js";
import { DockerRuntime } from "../../adapters/docker/docker-runtime.js";
import { ProcRootSockets } from "../../adapters/docker/proc-root-sockets.js";
import { DEFAULT_NODE_CONFIG } from "../../core/config/node-config.js";
import { UserFacingError } from "../../core/errors.js";
import { Daemon } from "../../daemon/daemon.js";
import { stderrLogger } from "../../daemon/log.js";
import { defineCommand, type Command } from "../command.js";

export const daemonCommand: Command = defineCommand(
  {
    name: "daemon",
    summary: "run the node daemon (podspawnd) in the foreground: the only Docker client",
    flags: {
      "docker-socket": { type: "string", value: "PATH", defaultText: "$PODSPAWN_DOCKER_SOCKET, else /var/run/docker.sock", description: "the Docker Engine socket" },
    },
    description: `Runs as root (systemd unit <instance>d.service on hosts). Listens on
/run/<instance>/u/<user>/spawn.sock for each registered user and on
/run/<instance>/control.sock (root only). Reads /etc/<instance>/config.yaml
(re-read on SIGHUP and on 'podspawn add-user'/'sync'). Logs to stderr.
Stops on SIGTERM/SIGINT; containers stay and are adopted on the next start.`,
  },
  async ({ flags }, io) => {
    if (process.getuid?.() !== 0) throw new UserFacingError("not-root", "the daemon must run as root (it owns the Docker socket and the per-user sockets)");
    const log = stderrLogger(io.stderr);
    const socketPath = flags["docker-socket"] ?? io.env["PODSPAWN_DOCKER_SOCKET"] ?? "/var/run/docker.sock";
    // The runtime reads the deadlines from the daemon's config at every call, so a reload applies them.
    let daemon: Daemon | null = null;
    const deadlines = {
      timeouts: () => daemon?.nodeConfig.engineTimeouts ?? DEFAULT_NODE_CONFIG.engineTimeouts,
      onTimeout: (call: string, ms: number) => daemon?.log({ kind: "engine-timeout", call, ms }),
    };
    const runtime = new DockerRuntime({ socketPath, ...deadlines });
    daemon = new Daemon({ layout: io.layout, runtime, builder: new DockerImageBuilder(socketPath, deadlines), log, sockets: new ProcRootSockets((id) => runtime.initProcess(id)), engineFacts: () => runtime.runtimeFacts() });
    await daemon.start();
    await new Promise<void>((resolve) => {
      process.once("SIGTERM", resolve);
      process.once("SIGINT", resolve);
      process.on("SIGHUP", () => void daemon.reload());
    });
    await daemon.stop();
    return 0;
  },
);

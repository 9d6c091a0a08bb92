import { access } from "node:fs/promises";
import { defaultDoctorDeps } from "../../../admin/doctor/default-deps.js";
import type { DoctorDeps } from "../../../admin/doctor/deps.js";
import { DOCTOR_CHECKS, runChecks } from "../../../admin/doctor/run-checks.js";
import { sshdConfigsToCheck } from "../../../admin/doctor/sshd-configs.js";
import type { Layout } from "../../../core/host/layout.js";
import { doctorExitCode, doctorJson, renderDoctorReport } from "../../../core/ops/doctor-report.js";
import { defineCommand, type Command } from "../../command.js";

export type MakeDoctorDeps = (layout: Layout, dockerSocket: string, sshdConfigs: readonly string[]) => DoctorDeps;

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

export function makeDoctorCommand(makeDeps: MakeDoctorDeps = defaultDoctorDeps): Command {
  return defineCommand(
    {
      name: "doctor",
      summary: "check this node's health; one fix line per failing check",
      flags: {
        json: { type: "boolean", description: "print the results as JSON" },
        "sshd-config": { type: "string", value: "PATH", defaultText: "each of /etc/ssh/sshd_config and /etc/<instance>/sshd/sshd_config that has our drop-in", description: "the sshd config to check" },
        "docker-socket": { type: "string", value: "PATH", defaultText: "$PODSPAWN_DOCKER_SOCKET, else /var/run/docker.sock", description: "the Docker Engine socket" },
      },
      description: `Runs every check and prints one line each (ok or FAIL, name, what was found), then one
'fix NAME: ...' line per failing check. Exits 0 when every check passes, 1 otherwise. Checks:
config (config.yaml parses), daemon (answers on the control socket), engine (Docker answers),
sockets (control socket root-only, per-user socket dirs 0710, the Docker socket not open to
others), openssh (8.2 or later), sshd-config (sshd -t), drop-in (present and included before any
Match), install-tree (command, bundles and every parent root-owned, not group/world-writable),
keys-user (exists, not in docker, reads the registry), state-dir (root 0700), disk (1 GiB free
for the engine and the state dir), image (the configured image is present), address-pool (room
for more user networks), metadata-rule (containers cannot reach 169.254.169.254), runc (no open
escape that engine.accept_runc_advisories does not accept). Run as root.`,
    },
    async ({ flags }, io) => {
      const socket = flags["docker-socket"] ?? io.env["PODSPAWN_DOCKER_SOCKET"] ?? "/var/run/docker.sock";
      const configs = flags["sshd-config"] ? [flags["sshd-config"]] : await sshdConfigsToCheck(io.layout, exists);
      const results = await runChecks(DOCTOR_CHECKS, makeDeps(io.layout, socket, configs));
      io.stdout.write(flags.json ? doctorJson(io.layout.instance, results) : renderDoctorReport(io.layout.instance, results));
      return doctorExitCode(results);
    },
  );
}

export const doctorCommand: Command = makeDoctorCommand();

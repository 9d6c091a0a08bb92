import { testSshdConfig, SSHD_PATH } from "../../adapters/sshd/sshd.js";
import { describeError } from "../../core/errors.js";
import { planMainConfig, sshdDropinPath } from "../../core/host/sshd-dropin.js";
import { failed, passed, type DoctorCheck } from "../../core/ops/doctor-report.js";
import { isSupportedOpenSsh, MIN_OPENSSH, parseOpenSshVersion } from "../../core/ops/openssh-version.js";
import type { DoctorDeps } from "./deps.js";

/** Checks of the host's sshd: its version, its config as `sshd -t` sees it, and our drop-in in it. */

export const opensshCheck: DoctorCheck<DoctorDeps> = {
  name: "openssh",
  async run(d) {
    const want = `${MIN_OPENSSH.major}.${MIN_OPENSSH.minor}`;
    try {
      const r = await d.run(SSHD_PATH, ["-V"], { timeoutMs: 5000 });
      const v = parseOpenSshVersion(`${r.stderr}\n${r.stdout}`);
      if (v === null) return failed(`${SSHD_PATH} -V did not print an OpenSSH version`, "install openssh-server");
      if (!isSupportedOpenSsh(v)) return failed(`${v.text} is older than OpenSSH ${want}`, `upgrade openssh-server to ${want} or later`);
      return passed(`${v.text} (${want} or later needed)`);
    } catch (err) {
      return failed(`cannot run ${SSHD_PATH}: ${describeError(err)}`, "install openssh-server");
    }
  },
};

export const sshdConfigCheck: DoctorCheck<DoctorDeps> = {
  name: "sshd-config",
  async run(d) {
    const bad: string[] = [];
    for (const config of d.sshdConfigs) {
      const r = await testSshdConfig(config, d.run);
      if (!r.ok) bad.push(`sshd -t -f ${config}: ${r.message}`);
    }
    if (bad.length > 0) return failed(bad.join("; "), "fix what sshd -t names; sshd would refuse to (re)start with it");
    return passed(`sshd -t accepts ${d.sshdConfigs.join(", ")}`);
  },
};

async function dropinProblem(d: DoctorDeps, config: string): Promise<string | null> {
  const dropin = sshdDropinPath(config, d.layout);
  const text = await d.fs.readText(dropin);
  if (text === null) return `${dropin} is missing`;
  if (!text.includes(`Match Group ${d.layout.usersGroup}`)) return `${dropin} has no 'Match Group ${d.layout.usersGroup}' block`;
  const main = await d.fs.readText(config);
  if (main === null) return `${config} is missing`;
  // server-setup's own rule: it would add the Include only if none comes before the first Match.
  if (planMainConfig(main, config, true).changes.length > 0) return `${config} does not include ${dropin} before its first Match block`;
  return null;
}

export const dropinCheck: DoctorCheck<DoctorDeps> = {
  name: "drop-in",
  async run(d) {
    const problems: string[] = [];
    for (const config of d.sshdConfigs) {
      const p = await dropinProblem(d, config);
      if (p !== null) problems.push(p);
    }
    if (problems.length > 0) return failed(problems.join("; "), `run: ${d.layout.command} server-setup${d.sshdConfigs.length === 1 && d.sshdConfigs[0] !== "/etc/ssh/sshd_config" ? ` --sshd-config ${d.sshdConfigs[0]}` : ""}`);
    return passed(`${d.sshdConfigs.map((c) => sshdDropinPath(c, d.layout)).join(", ")} present, included before any Match`);
  },
};

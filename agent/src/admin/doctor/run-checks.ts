import { describeError } from "../../core/errors.js";
import { failed, type DoctorCheck, type NamedResult } from "../../core/ops/doctor-report.js";
import { withDeadline } from "../../support/deadline.js";
import { addressPoolCheck, configCheck, daemonCheck, diskCheck, engineCheck, imageCheck } from "./checks-daemon.js";
import { installTreeCheck, keysUserCheck, metadataRuleCheck, runcCheck, socketsCheck, stateDirCheck } from "./checks-host.js";
import { dropinCheck, opensshCheck, sshdConfigCheck } from "./checks-sshd.js";
import type { DoctorDeps } from "./deps.js";

/** Every check, in the order the report lists them. */
export const DOCTOR_CHECKS: readonly DoctorCheck<DoctorDeps>[] = [
  configCheck,
  daemonCheck,
  engineCheck,
  socketsCheck,
  opensshCheck,
  sshdConfigCheck,
  dropinCheck,
  installTreeCheck,
  keysUserCheck,
  stateDirCheck,
  diskCheck,
  imageCheck,
  addressPoolCheck,
  metadataRuleCheck,
  runcCheck,
];

/** Past this a check counts as failed; each external call inside has its own shorter deadline. */
export const CHECK_TIMEOUT_MS = 20_000;

/** Runs the checks one after the other; a check that throws or hangs is a failed check, not a crash. */
export async function runChecks<D>(checks: readonly DoctorCheck<D>[], deps: D, timeoutMs = CHECK_TIMEOUT_MS): Promise<NamedResult[]> {
  const results: NamedResult[] = [];
  for (const check of checks) {
    const result = await withDeadline(
      check.run(deps).catch((err: unknown) => failed(`the check itself failed: ${describeError(err)}`, "run it again with PODSPAWN_DEBUG=1 and report it")),
      timeoutMs,
      () => failed(`no answer within ${timeoutMs / 1000} s`, "find what hangs (engine, sshd, iptables lock) and run doctor again"),
    );
    results.push({ name: check.name, ...result });
  }
  return results;
}

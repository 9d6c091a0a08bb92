import { sshdDropinPath } from "../../core/host/sshd-dropin.js";
import type { Layout } from "../../core/host/layout.js";

export const SYSTEM_SSHD_CONFIG = "/etc/ssh/sshd_config";

/**
 * Which sshd configs the doctor checks when not told: the system's, and the instance's own sshd
 * (`/etc/<instance>/sshd/sshd_config`, where `npm run up` and the e2e harness run theirs), each
 * only if `server-setup` put our drop-in beside it; the system's when neither has it, so the
 * report says what is missing there.
 */
export async function sshdConfigsToCheck(layout: Layout, exists: (path: string) => Promise<boolean>): Promise<string[]> {
  const candidates = [SYSTEM_SSHD_CONFIG, `${layout.etcDir}/sshd/sshd_config`];
  const set: string[] = [];
  for (const c of candidates) if ((await exists(c)) && (await exists(sshdDropinPath(c, layout)))) set.push(c);
  return set.length > 0 ? set : [SYSTEM_SSHD_CONFIG];
}

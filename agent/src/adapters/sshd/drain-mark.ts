import { readFileState, removeFile, writeFileAtomic } from "../fs/atomic-file.js";
import { UserFacingError } from "../../core/errors.js";
import { drainDropinPath, renderDrainDropin } from "../../core/host/drain.js";
import type { Layout } from "../../core/host/layout.js";
import { parseSshdConfig, sshdIncludeGlob } from "../../core/host/sshd-dropin.js";
import type { RunProcess } from "../process/run-process.js";
import { reloadSshd, testSshdConfig, type ReloadDeps } from "./sshd.js";

export interface DrainMarkDeps {
  readonly run: RunProcess;
  readonly reload: ReloadDeps;
}

export interface SshdTarget {
  readonly configPath: string;
  /** @default - systemd, else /run/sshd.pid */
  readonly pidFile?: string;
}

/**
 * Puts the drain mark into sshd's identification line (a drop-in with `VersionAddendum`), or
 * takes it out, validating with `sshd -t` (the previous file is put back if it fails) and
 * reloading sshd; open sessions are untouched by the reload. Returns a line for the admin.
 */
export async function setSshdDrainMark(on: boolean, layout: Layout, target: SshdTarget, deps: DrainMarkDeps): Promise<string> {
  const main = await readFileState(target.configPath);
  if (!main) throw new UserFacingError("sshd-config-missing", `${target.configPath} does not exist`);
  const glob = sshdIncludeGlob(target.configPath);
  const included = parseSshdConfig(main.content.toString("utf8")).some((l) => l.keyword === "include" && l.args.includes(glob));
  if (!included) throw new UserFacingError("sshd-not-set-up", `${target.configPath} does not include ${glob}, so sshd cannot announce the drain; run 'podspawn server-setup' first`);
  const path = drainDropinPath(target.configPath, layout);
  const before = await readFileState(path);
  const text = renderDrainDropin(layout);
  if (on ? before?.content.toString("utf8") === text : before === null) return on ? "sshd already announces the drain" : "sshd does not announce a drain";
  if (on) await writeFileAtomic(path, text, { mode: 0o644, uid: 0, gid: 0 });
  else await removeFile(path);
  const check = await testSshdConfig(target.configPath, deps.run);
  if (!check.ok) {
    if (before) await writeFileAtomic(path, before.content, before);
    else await removeFile(path);
    throw new UserFacingError("sshd-config-invalid", `sshd -t -f ${target.configPath} rejected ${path}; restored it: ${check.message}`);
  }
  const reloaded = await reloadSshd(target.pidFile, deps.reload);
  return `${on ? "wrote" : "removed"} ${path}; ${reloaded}`;
}

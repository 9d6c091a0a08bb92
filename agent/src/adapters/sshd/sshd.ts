import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { describeExit, processMessage, runProcess, type RunProcess } from "../process/run-process.js";

/** The host's sshd: validation with `sshd -t` and reloads, with the runner and kill injectable. */

export const SSHD_PATH = "/usr/sbin/sshd";

export interface SshdCheck {
  readonly ok: boolean;
  readonly message: string;
}

/** sshd -t reads a few files and host keys; seconds mean something is wrong. */
const SSHD_TIMEOUT_MS = 15_000;

export async function testSshdConfig(configPath: string, run: RunProcess = runProcess, sshdPath = SSHD_PATH): Promise<SshdCheck> {
  const r = await run(sshdPath, ["-t", "-f", configPath], { timeoutMs: SSHD_TIMEOUT_MS });
  return { ok: r.code === 0, message: processMessage(r) || describeExit(r, SSHD_TIMEOUT_MS) };
}

export interface ReloadDeps {
  readonly run: RunProcess;
  readonly kill: (pid: number, signal: NodeJS.Signals | 0) => void;
  readonly systemd: boolean;
  readonly readText: (path: string) => Promise<string>;
}

export function defaultReloadDeps(): ReloadDeps {
  return {
    run: runProcess,
    kill: (pid, signal) => void process.kill(pid, signal),
    systemd: existsSync("/run/systemd/system"),
    readText: (path) => readFile(path, "utf8"),
  };
}

/**
 * Ask sshd to re-read its config (SIGHUP makes it re-exec itself; existing sessions are kept).
 * Returns a sentence for the admin. No running sshd is not an error: the config applies at start.
 */
export async function reloadSshd(pidFile: string | undefined, deps: ReloadDeps): Promise<string> {
  if (pidFile === undefined && deps.systemd) {
    for (const unit of ["ssh", "sshd"]) {
      const r = await deps.run("systemctl", ["reload", unit], { timeoutMs: SSHD_TIMEOUT_MS });
      if (r.code === 0) return `reloaded sshd (systemctl reload ${unit})`;
    }
    return "sshd is not running under systemd (neither ssh nor sshd reloaded); the configuration applies when it starts";
  }
  const file = pidFile ?? "/run/sshd.pid";
  let pid: number;
  try {
    pid = Number((await deps.readText(file)).trim());
  } catch {
    return `sshd is not running (no ${file}); the configuration applies when it starts`;
  }
  if (!Number.isInteger(pid) || pid <= 1) return `sshd is not running (${file} holds no pid); the configuration applies when it starts`;
  try {
    deps.kill(pid, 0);
  } catch {
    return `sshd is not running (pid ${pid} from ${file} is gone); the configuration applies when it starts`;
  }
  deps.kill(pid, "SIGHUP");
  return `reloaded sshd (SIGHUP to pid ${pid})`;
}

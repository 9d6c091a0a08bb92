import { existsSync } from "node:fs";
import { readdir, readFile, readlink } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
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
  /** Inodes of the TCP sockets `pid` listens on (see listeningSocketInodes). */
  readonly listening: (pid: number) => Promise<ReadonlySet<string>>;
  readonly sleep: (ms: number) => Promise<void>;
}

export function defaultReloadDeps(): ReloadDeps {
  return {
    run: runProcess,
    kill: (pid, signal) => void process.kill(pid, signal),
    systemd: existsSync("/run/systemd/system"),
    readText: (path) => readFile(path, "utf8"),
    listening: (pid) => listeningSocketInodes(pid),
    sleep: (ms) => sleep(ms),
  };
}

/** How long a SIGHUP'd sshd may take to listen again with the new config. */
export const RELISTEN_TIMEOUT_MS = 5_000;
const RELISTEN_POLL_MS = 20;

/**
 * The inodes of the listening TCP sockets that `pid` holds, from /proc: its fds that are sockets,
 * kept if /proc/net/tcp{,6} lists them in state LISTEN (0A). Empty when anything is unreadable.
 */
export async function listeningSocketInodes(pid: number, proc = "/proc"): Promise<ReadonlySet<string>> {
  const held = new Set<string>();
  try {
    for (const fd of await readdir(`${proc}/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(await readlink(`${proc}/${pid}/fd/${fd}`).catch(() => ""));
      if (m?.[1]) held.add(m[1]);
    }
  } catch {
    return new Set();
  }
  const out = new Set<string>();
  for (const table of ["tcp", "tcp6"]) {
    const text = await readFile(`${proc}/net/${table}`, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === "0A" && f[9] && held.has(f[9])) out.add(f[9]);
    }
  }
  return out;
}

/**
 * SIGHUP makes sshd close its listeners and re-exec itself, then listen anew with the new config;
 * a login that arrives before that is served by the old config. Wait (bounded) until the pid
 * listens on sockets it did not hold before, so callers (server-setup, the bootstrap) return when
 * the new config is what sshd serves.
 */
async function awaitRelisten(pid: number, before: ReadonlySet<string>, deps: ReloadDeps): Promise<boolean> {
  for (let waited = 0; waited <= RELISTEN_TIMEOUT_MS; waited += RELISTEN_POLL_MS) {
    const now = await deps.listening(pid);
    if ([...now].some((inode) => !before.has(inode))) return true;
    await deps.sleep(RELISTEN_POLL_MS);
  }
  return false;
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
  const before = await deps.listening(pid);
  deps.kill(pid, "SIGHUP");
  // Without listeners to compare (sshd under inetd, /proc unreadable) there is nothing to wait for.
  if (before.size === 0) return `reloaded sshd (SIGHUP to pid ${pid})`;
  if (await awaitRelisten(pid, before, deps)) return `reloaded sshd (SIGHUP to pid ${pid})`;
  return `sent SIGHUP to sshd (pid ${pid}), but it did not listen again within ${RELISTEN_TIMEOUT_MS / 1000} s; check its log`;
}

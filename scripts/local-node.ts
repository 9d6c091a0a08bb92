/**
 * Runs the pieces of a podspawn node on this machine, for the quick start (`npm run up`) and for the
 * e2e harness: a dedicated sshd (its own config, host key, pid file and log; the system sshd is
 * never touched), the node daemon, and the installed `podspawn` CLI.
 *
 * Everything started here is stopped by the pid it wrote or the daemon wrote, after checking that
 * the pid still belongs to that program (pids are reused): never by name.
 * Importing this module has no side effects.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { access, chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { dirname, isAbsolute, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { $ } from "zx/core";
import { layoutFor } from "../agent/src/core/host/layout.js";

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Kill the command (SIGKILL) after this long and report code 124 like timeout(1). @default 60 s */
  readonly timeoutMs?: number;
}

/**
 * Runs a program and returns its exit code and output; never throws on failure. zx quotes every
 * argument (nothing here is parsed by a shell), keeps the child's output to itself (`quiet`) and
 * stops it with SIGKILL at the deadline, which is the only SIGKILL these children ever get.
 */
export async function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const r = await $({ quiet: true, nothrow: true, input: opts.input ?? "", env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, timeoutSignal: "SIGKILL" })`${cmd} ${args}`;
  const code = r.signal === "SIGKILL" ? 124 : (r.exitCode ?? 128);
  return { code, stdout: r.stdout, stderr: r.stderr };
}

/** `podspawn <args>` through the installed root-owned wrapper of `instance`, as sshd would run it. */
export function runPodspawn(instance: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  return runCommand(layoutFor(instance).command, args, opts);
}

// ---- docker -----------------------------------------------------------------------------------

/**
 * `docker ARGS`, synchronously (the harness's views of Docker are plain functions); throws with
 * docker's own message if it fails. `nothrow` and our own check: zx 8's `$.sync` reports a failed
 * command as an unhandled rejection later instead of throwing here.
 */
function dockerSync(args: readonly string[]): string {
  const r = $.sync({ quiet: true, nothrow: true })`docker ${args}`;
  if (r.exitCode !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.exitCode ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Non-empty output lines of a docker CLI call (throws if docker fails). */
export function dockerLines(args: readonly string[]): string[] {
  return dockerSync(args)
    .split("\n")
    .filter((l) => l.trim() !== "");
}

/**
 * Label sweep of one instance's containers and networks (never anyone else's). Volumes are kept:
 * persistent homes are user data, removed only through remove-user.
 */
export function removeInstanceContainers(instance: string): void {
  const ids = dockerLines(["ps", "-aq", "--filter", `label=podspawn.instance=${instance}`]);
  if (ids.length) dockerSync(["rm", "-f", ...ids]);
  const nets = dockerLines(["network", "ls", "-q", "--filter", `label=podspawn.instance=${instance}`]);
  if (nets.length) dockerSync(["network", "rm", ...nets]);
}

// ---- pids -------------------------------------------------------------------------------------

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The pid in `pidFile` if that process is alive and its command line contains every one of
 * `mustContain` (so a stale pid file whose pid was reused by another program is ignored).
 */
export async function readLivePid(pidFile: string, mustContain: readonly string[]): Promise<number | undefined> {
  const text = await readFile(pidFile, "utf8").catch(() => "");
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  const flat = cmdline.replace(/\0/g, " ");
  return mustContain.every((s) => flat.includes(s)) ? pid : undefined;
}

/** SIGTERM, wait, SIGKILL after `timeoutMs`. Returns how it ended. */
async function terminate(pid: number, timeoutMs: number): Promise<"terminated" | "killed"> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return "terminated";
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return "terminated";
    await sleep(50);
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* it went away in between */
  }
  while (alive(pid)) await sleep(20);
  return "killed";
}

async function logTail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "(no log)");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

// ---- sshd -------------------------------------------------------------------------------------

export interface SshdOptions {
  /** Only names the config (header comment); paths come from `dir`. */
  readonly instance: string;
  readonly listen: string;
  readonly port: number;
  /** Absolute, root-owned: sshd_config, sshd_config.d/, the host key. */
  readonly dir: string;
  /** @default `<dir>/sshd.pid` */
  readonly pidFile?: string;
  /** @default `<dir>/sshd.log` */
  readonly logFile?: string;
  /** Extra global lines, appended after the defaults (e.g. `LogLevel DEBUG1`). */
  readonly extraConfig?: readonly string[];
  /** @default 10 s */
  readonly timeoutMs?: number;
}

export interface SshdHandle {
  readonly pid: number;
  readonly listen: string;
  readonly port: number;
  readonly configFile: string;
  readonly dropInDir: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly hostKeyFile: string;
  /** `ssh-ed25519 AAAA...`, for known_hosts lines. */
  readonly hostPublicKey: string;
}

interface SshdPaths {
  readonly configFile: string;
  readonly dropInDir: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly hostKeyFile: string;
}

function sshdPaths(o: SshdOptions): SshdPaths {
  if (!isAbsolute(o.dir)) throw new Error(`sshd dir must be absolute (sshd chdirs to /): ${o.dir}`);
  return {
    configFile: join(o.dir, "sshd_config"),
    dropInDir: join(o.dir, "sshd_config.d"),
    pidFile: o.pidFile ?? join(o.dir, "sshd.pid"),
    logFile: o.logFile ?? join(o.dir, "sshd.log"),
    hostKeyFile: join(o.dir, "ssh_host_ed25519_key"),
  };
}

/**
 * The main config. The Include comes first so `podspawn server-setup --sshd-config` can add its
 * drop-in exactly as it does under /etc/ssh: sshd keeps the first value it reads, and a `Match`
 * inside an included file ends with that file (checked with `sshd -T` on OpenSSH 9.2).
 */
export function renderSshdConfig(o: SshdOptions, p: SshdPaths = sshdPaths(o)): string {
  return [
    `# sshd for podspawn instance ${o.instance}, written by scripts/local-node.ts. Rewritten on every start.`,
    `Include ${p.dropInDir}/*.conf`,
    `ListenAddress ${o.listen}`,
    `Port ${o.port}`,
    `HostKey ${p.hostKeyFile}`,
    `PidFile ${p.pidFile}`,
    // No PAM: pod accounts have password '*' and need no session modules; keys only.
    "UsePAM no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    "LogLevel VERBOSE",
    // Tests and benchmarks open up to 200 logins at once (distinct users' first logins); the
    // default 10:30:100 drops some. sshd keeps the first value, so extraConfig cannot raise it.
    "MaxStartups 500:30:1000",
    "Subsystem sftp internal-sftp",
    ...(o.extraConfig ?? []),
    "",
  ].join("\n");
}

/** Connects and waits for the `SSH-2.0-` banner: proves sshd itself (not another program) listens. */
function sshBanner(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("data", (d: Buffer) => done(d.toString("latin1").startsWith("SSH-")));
    s.once("error", () => done(false));
  });
}

/** The running sshd of these options, if its pid file names a live sshd using this config. */
export async function sshdRunning(o: SshdOptions): Promise<number | undefined> {
  const p = sshdPaths(o);
  return readLivePid(p.pidFile, ["sshd", p.configFile]);
}

export async function startSshd(o: SshdOptions): Promise<SshdHandle> {
  const p = sshdPaths(o);
  await mkdir(o.dir, { recursive: true, mode: 0o755 });
  await mkdir(p.dropInDir, { recursive: true, mode: 0o755 });
  await mkdir(dirname(p.pidFile), { recursive: true, mode: 0o755 });
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 }); // privilege separation dir
  if (await sshdRunning(o)) throw new Error(`an sshd with ${p.configFile} is already running (${p.pidFile})`);
  if (!(await access(p.hostKeyFile).then(() => true, () => false))) {
    const r = await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${o.instance}-sshd`, "-f", p.hostKeyFile]);
    if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.trim()}`);
  }
  await chmod(p.hostKeyFile, 0o600); // sshd refuses a host key others can read
  await writeFile(p.configFile, renderSshdConfig(o, p), { mode: 0o644 });
  const check = await runCommand("/usr/sbin/sshd", ["-t", "-f", p.configFile]);
  if (check.code !== 0) throw new Error(`sshd -t -f ${p.configFile} failed:\n${check.stderr.trim()}`);
  await rm(p.pidFile, { force: true }); // stale: readiness below waits for a fresh one
  // sshd daemonizes itself; the absolute path is required for its re-exec per connection.
  const started = await runCommand("/usr/sbin/sshd", ["-f", p.configFile, "-E", p.logFile]);
  if (started.code !== 0) throw new Error(`sshd exited ${started.code}: ${started.stderr.trim()}\n${await logTail(p.logFile)}`);

  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  for (;;) {
    // The pid file is written after the listeners are bound, so a port owned by someone else
    // (bind failure, sshd exits) cannot pass for a ready sshd.
    const pid = await sshdRunning(o);
    if (pid && (await sshBanner(o.listen, o.port))) {
      const hostPublicKey = (await readFile(`${p.hostKeyFile}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
      return { pid, listen: o.listen, port: o.port, ...p, hostPublicKey };
    }
    if (Date.now() > deadline) throw new Error(`sshd on ${o.listen}:${o.port} not ready after ${o.timeoutMs ?? 10_000} ms:\n${await logTail(p.logFile)}`);
    await sleep(50);
  }
}

/** Stops the sshd of these options (listener only: open sessions keep their own processes). */
export async function stopSshd(o: SshdOptions): Promise<{ readonly stopped: boolean; readonly pid?: number }> {
  const p = sshdPaths(o);
  const pid = await sshdRunning(o);
  if (!pid) {
    await rm(p.pidFile, { force: true });
    return { stopped: false };
  }
  await terminate(pid, 5000);
  await rm(p.pidFile, { force: true });
  return { stopped: true, pid };
}

// ---- node daemon ------------------------------------------------------------------------------

export interface DaemonOptions {
  readonly instance: string;
  /** stdout+stderr of the daemon, appended. */
  readonly logFile: string;
  /** @default 20 s */
  readonly timeoutMs?: number;
  /** Added to the daemon's minimal environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** A command that runs the daemon's argv (tests: e.g. `unshare -m ...` to fake a host fault). */
  readonly launcher?: readonly string[];
}

/** Connects to a unix socket and closes again: true if something accepts connections there. */
function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The daemon's pid (from the pid file the daemon writes itself), if it is running. */
export async function daemonRunning(instance: string): Promise<number | undefined> {
  const layout = layoutFor(instance);
  return readLivePid(layout.pidFile, [`${layout.libDir}/`, "daemon"]);
}

/**
 * Starts `<layout.command> daemon` detached (it must outlive `npm run up`) with a minimal
 * environment like a systemd unit's, and waits until its control socket accepts a connection and
 * it has written its pid file (`/run/<instance>/daemon.pid`). Fails with the log tail if the daemon
 * exits or is not ready in time.
 */
export async function startDaemon(o: DaemonOptions): Promise<{ readonly pid: number }> {
  const layout = layoutFor(o.instance);
  if (await daemonRunning(o.instance)) throw new Error(`the ${o.instance} daemon is already running (${layout.pidFile})`);
  await mkdir(dirname(o.logFile), { recursive: true });
  const fd = openSync(o.logFile, "a", 0o600);
  let exited: string | undefined;
  try {
    // A plain spawn, not zx: the daemon outlives this process (detached, writing its own log fd).
    const argv = [...(o.launcher ?? []), layout.command, "daemon"];
    const child = spawn(argv[0] as string, argv.slice(1), {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", ...o.env },
    });
    child.once("error", (err) => (exited = err.message));
    child.once("exit", (code, signal) => (exited = `exited with ${signal ?? `code ${code}`}`));
    child.unref();
  } finally {
    closeSync(fd);
  }
  const timeoutMs = o.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`daemon ${exited}; last lines of ${o.logFile}:\n${await logTail(o.logFile)}`);
    if (await socketAccepts(layout.controlSocket)) {
      const pid = await daemonRunning(o.instance);
      if (pid) return { pid };
    }
    if (Date.now() > deadline) throw new Error(`daemon not ready after ${timeoutMs} ms (no ${layout.controlSocket}); last lines of ${o.logFile}:\n${await logTail(o.logFile)}`);
    await sleep(100);
  }
}

/** SIGTERM to the daemon by its pid file (it removes its sockets and pid file); SIGKILL after 15 s. */
export async function stopDaemon(instance: string): Promise<{ readonly stopped: boolean; readonly pid?: number; readonly how?: "terminated" | "killed" }> {
  const pid = await daemonRunning(instance);
  if (!pid) return { stopped: false };
  const how = await terminate(pid, 15_000);
  if (how === "killed") await rm(layoutFor(instance).pidFile, { force: true });
  return { stopped: true, pid, how };
}

// ---- the quick start's places ----------------------------------------------------------------

/** Where the quick start keeps its own sshd and its notes; shared by up and down. */
export function quickstartPaths(instance: string, port = 2222, listen = "127.0.0.1"): { readonly sshd: SshdOptions; readonly stateDir: string; readonly daemonLog: string } {
  const layout = layoutFor(instance);
  return {
    sshd: {
      instance,
      listen,
      port,
      dir: `${layout.etcDir}/sshd`,
      pidFile: `/run/${instance}-up/sshd.pid`,
      logFile: `/var/log/${instance}-sshd.log`,
    },
    stateDir: `/run/${instance}-up`,
    daemonLog: `/var/log/${instance}-daemon.log`,
  };
}

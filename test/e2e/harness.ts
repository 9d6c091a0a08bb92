/**
 * A real single node for end-to-end tests: the agent installed as instance `podspawn-e2e`, its
 * daemon, a dedicated sshd on 127.0.0.1:2223 configured by `podspawn server-setup`, and pod users
 * registered with `podspawn add-user`. Tests drive the real `ssh`, `scp` and `sftp` clients.
 * Needs root, Docker and the default image: anything missing fails loudly, nothing skips.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { dockerLines, removeInstanceContainers, runCommand, runPodspawn, startDaemon, startSshd, stopDaemon, stopSshd, type CommandResult, type RunOptions, type SshdOptions } from "../../scripts/local-node.js";

export const INSTANCE = "podspawn-e2e";
export const PORT = 2223;
export const layout = layoutFor(INSTANCE);
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const bundleDir = join(repo, "dist", "bundle");
export const sshdOptions: SshdOptions = { instance: INSTANCE, listen: "127.0.0.1", port: PORT, dir: `${layout.etcDir}/sshd` };
export const daemonLog = `/var/log/${INSTANCE}-daemon.log`;

export interface NodeHandle {
  readonly clientDir: string;
  readonly knownHosts: string;
  /** The node's sshd log (LogLevel VERBOSE): what sshd refused, and why. */
  readonly sshdLog: string;
  keyFor(user: string): string;
  ssh(user: string, args: readonly string[], opts?: RunOptions & { key?: string }): Promise<CommandResult>;
  sshArgs(user: string, key?: string): string[];
  podspawn(args: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  /** Containers of this instance as `name state` lines, via the docker CLI (an independent view). */
  containers(): string[];
  networks(): string[];
  reload(): Promise<void>;
  status(): Promise<{ sessions: { user: string; project: string }[]; containers: { user: string; sessions: number }[] }>;
  restartDaemon(env?: NodeJS.ProcessEnv, extraArgs?: readonly string[], launcher?: readonly string[]): Promise<void>;
  writeConfig(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

function must(what: string, r: CommandResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error("e2e tests must run as root (they install the agent and start sshd)");
  try {
    execFileSync("docker", ["image", "inspect", "podspawn/default:bookworm"], { stdio: "ignore" });
  } catch {
    throw new Error("Docker is not running or the image podspawn/default:bookworm is missing: run scripts/provision-host.sh and node dist/scripts/build-image.js (.ci/run does both)");
  }
}

export const DEFAULT_TEST_CONFIG = `image: podspawn/default:bookworm
session:
  mode: grace-period
  grace_period: 3s
resources:
  cpus: 1
  memory: 512m
  pids: 256
network_linger: 2s
# Other tests count containers exactly: they run the normal (create) path. pool.test.ts turns it on.
pool:
  size: 0
  project_size: 0
# Debian 12's newest runc (1.1.5+ds1-1+deb12u1) has no fix for these escapes through images;
# without accepting them the node runs only its default environment (runc-gate.test.ts shows both).
engine:
  accept_runc_advisories: [CVE-2024-45310, CVE-2025-31133, CVE-2025-52565, CVE-2025-52881]
`;

export interface NodeOptions {
  /**
   * Projects registered with `podspawn add-project NAME` (the default environment under their own
   * name): a login naming any other project is refused.
   */
  readonly projects?: readonly string[];
  /** Global sshd lines after ours, as a site's own config would have them (e.g. a user CA). */
  readonly sshdExtraConfig?: readonly string[];
}

export async function startNode(users: readonly string[], opts: NodeOptions = {}): Promise<NodeHandle> {
  preflight();
  await stopDaemon(INSTANCE);
  await stopSshd(sshdOptions);
  removeInstanceContainers(INSTANCE);
  // Projects a previous run (or another test file) left registered would answer logins here.
  await rm(layout.projectsDir, { recursive: true, force: true });
  must("podspawn install", await runCommand(process.execPath, [join(bundleDir, "podspawn.cjs"), "install", "--instance", INSTANCE, "--bundle-dir", bundleDir]));
  await writeFile(layout.configFile, DEFAULT_TEST_CONFIG, { mode: 0o644 });
  await startDaemon({ instance: INSTANCE, logFile: daemonLog });
  const sshd = await startSshd({ ...sshdOptions, extraConfig: opts.sshdExtraConfig });
  must("server-setup", await runPodspawn(INSTANCE, ["server-setup", "--sshd-config", sshd.configFile, "--sshd-pid-file", sshd.pidFile]));
  // Client side: keys and a known_hosts pinned to this sshd's host key (never StrictHostKeyChecking no).
  const clientDir = await mkdtemp(join(tmpdir(), "podspawn-e2e-client-"));
  const knownHosts = join(clientDir, "known_hosts");
  await writeFile(knownHosts, `[127.0.0.1]:${PORT} ${sshd.hostPublicKey}\n`);
  for (const user of [...users, "stranger"]) {
    must("ssh-keygen", await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${user}@e2e`, "-f", join(clientDir, user)]));
  }
  // Users another test file (or an interrupted run) left registered: each file starts with its own
  // users only, so counts and sync plans do not depend on what ran before.
  const wanted = new Set(users);
  for (const file of await readdir(layout.usersDir).catch(() => [] as string[])) {
    const left = file.endsWith(".keys") ? file.slice(0, -".keys".length) : null;
    if (left !== null && !wanted.has(left)) await runPodspawn(INSTANCE, ["remove-user", left, "--force"]);
  }
  for (const user of users) {
    await runPodspawn(INSTANCE, ["remove-user", user, "--force"]);
    must(`add-user ${user}`, await runPodspawn(INSTANCE, ["add-user", user, "--key-file", join(clientDir, `${user}.pub`)]));
  }
  for (const project of opts.projects ?? []) must(`add-project ${project}`, await runPodspawn(INSTANCE, ["add-project", project]));
  const keyFor = (user: string): string => join(clientDir, user);
  const sshArgs = (user: string, key?: string): string[] => [
    "-p", String(PORT),
    "-i", key ?? keyFor(user),
    "-o", "IdentitiesOnly=yes",
    "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "StrictHostKeyChecking=yes",
    "-o", "BatchMode=yes",
    "-o", "KexAlgorithms=curve25519-sha256",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=10",
  ];
  const handle: NodeHandle = {
    clientDir,
    knownHosts,
    sshdLog: sshd.logFile,
    keyFor,
    sshArgs,
    ssh: (user, args, opts = {}) => runCommand("ssh", [...sshArgs(user, opts.key), `${user}@127.0.0.1`, ...args], { timeoutMs: 60_000, ...opts }),
    podspawn: (args, opts) => runPodspawn(INSTANCE, args, opts),
    containers: () => dockerLines(["ps", "-a", "--filter", `label=podspawn.instance=${INSTANCE}`, "--format", "{{.Names}} {{.State}}"]),
    networks: () => dockerLines(["network", "ls", "--filter", `label=podspawn.instance=${INSTANCE}`, "--format", "{{.Name}}"]),
    status: async () => {
      const r = must("control status", await runCommand(process.execPath, ["-e", controlScript('{"op":"status"}')]));
      return JSON.parse(r) as Awaited<ReturnType<NodeHandle["status"]>>;
    },
    reload: async () => {
      must("control reload", await runCommand(process.execPath, ["-e", controlScript('{"op":"reload"}')]));
    },
    restartDaemon: async (env, _extraArgs, launcher) => {
      await stopDaemon(INSTANCE);
      await startDaemon({ instance: INSTANCE, logFile: daemonLog, env, launcher });
    },
    writeConfig: async (yaml) => {
      await mkdir(layout.etcDir, { recursive: true });
      await writeFile(layout.configFile, yaml, { mode: 0o644 });
    },
    stop: async () => {
      await stopSshd(sshdOptions);
      await stopDaemon(INSTANCE);
      for (const user of users) await runPodspawn(INSTANCE, ["remove-user", user, "--force"]);
      removeInstanceContainers(INSTANCE);
      await rm(layout.projectsDir, { recursive: true, force: true });
      await rm(clientDir, { recursive: true, force: true });
    },
  };
  return handle;
}

function controlScript(request: string): string {
  return `const s=require("net").connect(${JSON.stringify(layout.controlSocket)});let b="";s.on("data",d=>b+=d);s.on("end",()=>process.stdout.write(b));s.write(${JSON.stringify(request + "\n")});`;
}

/** Poll until `check` is true or the time is up; returns whether it became true. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

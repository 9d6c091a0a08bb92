/**
 * The node `npm run bench` measures: instance `podspawn-bench` installed from dist/bundle, its
 * daemon, and two sshds built by scripts/local-node.ts that differ only in how they authenticate
 * pod users (`server-setup --auth file` on 127.0.0.1:2224, `--auth command` on 127.0.0.1:2225; each
 * drop-in lives next to its own sshd_config, so both modes coexist on one instance and daemon).
 *
 * The floor account `bench-floor` sits on the file-mode sshd with the very same Match options as
 * pod users (copied from the rendered drop-in) and a key line of the same shape, only its forced
 * command is `/bin/true` (one key) or `node -e 0` (another key).
 *
 * Everything here is stopped by pid file or removed by label/name in `stop()`. Importing this
 * module has no side effects.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { $ } from "zx/core";
import { sendControl } from "../agent/src/adapters/daemon/control-client.js";
import { layoutFor } from "../agent/src/core/host/layout.js";
import { renderSshdDropin } from "../agent/src/core/host/sshd-dropin.js";
import { dockerLines, removeInstanceContainers, runCommand, runPodspawn, startDaemon, startSshd, stopDaemon, stopSshd, type CommandResult, type SshdOptions } from "./local-node.js";

export const INSTANCE = "podspawn-bench";
export const FILE_PORT = 2224;
export const COMMAND_PORT = 2225;
export const BENCH_USER = "bench-user";
export const FLOOR_USER = "bench-floor";
export const IMAGE = "podspawn/default:bookworm";
export const layout = layoutFor(INSTANCE);
export const daemonLog = `/var/log/${INSTANCE}-daemon.log`;
/**
 * Projects of the bench user: a cached Podfile project with no services and no hooks (what its
 * cold login costs over the default environment's), and the postgres example (service + hooks).
 */
export const BENCH_PROJECT = "bproj";
export const BENCH_SERVICES_PROJECT = "bpg";
const BENCH_PODFILE = "base: podspawn/default:bookworm\npackages: [jq]\nenv: {EDITOR: vi, PROJECT_NAME: \"${PODSPAWN_PROJECT}\"}\n";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bundleDir = join(repo, "dist", "bundle");
const floorKeysFile = `${layout.etcDir}/bench-floor/authorized_keys`;

/** A long grace period: warm logins must find the container; cold ones evict it first. */
const BENCH_POOL = /^\d+$/.test(process.env.PODSPAWN_BENCH_POOL ?? "") ? Number(process.env.PODSPAWN_BENCH_POOL) : 2;
const BENCH_CONFIG = `# Written by scripts/bench-node.ts for npm run bench.
image: ${IMAGE}
session:
  mode: grace-period
  grace_period: 30m
resources:
  cpus: 2
  memory: 2g
  pids: 512
# The memory section holds 100 idle sessions of one user, past the default per-user quota (32).
limits:
  sessions_per_user: 200
# PODSPAWN_BENCH_POOL=0 measures first logins without the pre-warmed pool (the normal create path).
pool:
  size: ${BENCH_POOL}
# As test/e2e/harness.ts: Debian 12's newest runc has no fix for these escapes through images, and
# without accepting them the node refuses the bench's Podfile projects (docs/operations.md).
engine:
  accept_runc_advisories: [CVE-2024-45310, CVE-2025-31133, CVE-2025-52565, CVE-2025-52881]
`;

export const fileSshd: SshdOptions = { instance: INSTANCE, listen: "127.0.0.1", port: FILE_PORT, dir: `${layout.etcDir}/sshd-file`, extraConfig: floorMatchBlock() };
export const commandSshd: SshdOptions = { instance: INSTANCE, listen: "127.0.0.1", port: COMMAND_PORT, dir: `${layout.etcDir}/sshd-command` };

/** The pod users' Match options from the real drop-in, for the floor user, with its own key file. */
function floorMatchBlock(): string[] {
  const podOptions = renderSshdDropin(layout, "file")
    .split("\n")
    // The floor's forced command is its key line's (/bin/true, node -e 0): not the pod users' ForceCommand.
    .filter((l) => l.startsWith("    ") && !/^\s*(AuthorizedKeys|ForceCommand)/i.test(l));
  return [`Match User ${FLOOR_USER}`, `    AuthorizedKeysFile ${floorKeysFile}`, ...podOptions, "Match all"];
}

export interface Account {
  readonly uid: number;
  readonly gid: number;
}

export interface BenchNode {
  readonly clientDir: string;
  /** ssh client flags shared by every measured login (pinned known_hosts, curve25519, batch). */
  sshArgs(port: number, key: string): string[];
  /** floorPlain: no forced command, an ordinary ssh session (`sh -c` of the command sent). */
  readonly keys: { readonly bench: string; readonly floorTrue: string; readonly floorNode: string; readonly floorPlain: string };
  /** `type base64` of the bench user's key, as sshd passes it to auth-keys (%t %k). */
  readonly benchKey: { readonly type: string; readonly base64: string };
  readonly benchAccount: Account;
  readonly keysAccount: Account;
  evict(): Promise<number>;
  /** Id of the bench user's running container, if any. */
  containerId(): string | undefined;
  /** Running, unclaimed pooled containers (full ids). */
  pooledIds(): string[];
  stop(): Promise<void>;
}

function must(what: string, r: CommandResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function account(name: string): Promise<Account | undefined> {
  const r = await runCommand("getent", ["passwd", name]);
  if (r.code !== 0) return undefined;
  const f = r.stdout.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

async function ensureFloorUser(): Promise<void> {
  if (await account(FLOOR_USER)) return;
  must("useradd", await runCommand("useradd", ["--user-group", "--shell", "/bin/sh", "--home-dir", "/", "--no-create-home", "--", FLOOR_USER]));
  // useradd leaves the account locked (`!`), which sshd refuses even for key logins.
  must("usermod", await runCommand("usermod", ["-p", "*", "--", FLOOR_USER]));
}

async function keygen(file: string, comment: string): Promise<string> {
  must("ssh-keygen", await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]));
  return (await readFile(`${file}.pub`, "utf8")).trim();
}

/** Stops whatever a previous (interrupted) bench left, by pid file and label only. */
async function sweep(): Promise<void> {
  await stopSshd(fileSshd);
  await stopSshd(commandSshd);
  await stopDaemon(INSTANCE);
  removeInstanceContainers(INSTANCE);
}

export async function startBenchNode(log: (line: string) => void): Promise<BenchNode> {
  if (process.getuid?.() !== 0) throw new Error("the benchmark must run as root (it installs an instance, starts sshd and adds accounts)");
  if ((await $({ quiet: true, nothrow: true })`docker image inspect ${IMAGE}`).exitCode !== 0) {
    throw new Error(`Docker is not running or ${IMAGE} is missing: run scripts/provision-host.sh and node dist/scripts/build-image.js`);
  }
  await sweep();
  log(`installing instance ${INSTANCE}`);
  must("podspawn install", await runCommand(process.execPath, [join(bundleDir, "podspawn.cjs"), "install", "--instance", INSTANCE, "--bundle-dir", bundleDir]));
  await writeFile(layout.configFile, BENCH_CONFIG, { mode: 0o644 });
  await startDaemon({ instance: INSTANCE, logFile: daemonLog });
  const stopAll = async (clientDir?: string): Promise<void> => {
    await sweep();
    await runPodspawn(INSTANCE, ["remove-user", BENCH_USER, "--force"]);
    if (await account(FLOOR_USER)) await runCommand("userdel", ["--", FLOOR_USER]);
    await rm(dirname(floorKeysFile), { recursive: true, force: true });
    if (clientDir) await rm(clientDir, { recursive: true, force: true });
  };
  let clientDir: string | undefined;
  try {
    const fileH = await startSshd(fileSshd);
    const cmdH = await startSshd(commandSshd);
    must("server-setup --auth file", await runPodspawn(INSTANCE, ["server-setup", "--auth", "file", "--sshd-config", fileH.configFile, "--sshd-pid-file", fileH.pidFile]));
    must("server-setup --auth command", await runPodspawn(INSTANCE, ["server-setup", "--auth", "command", "--sshd-config", cmdH.configFile, "--sshd-pid-file", cmdH.pidFile]));
    log(`sshd: file auth on 127.0.0.1:${FILE_PORT} (pid ${fileH.pid}), command auth on 127.0.0.1:${COMMAND_PORT} (pid ${cmdH.pid})`);

    clientDir = await mkdtemp(join(tmpdir(), "podspawn-bench-client-"));
    const knownHosts = join(clientDir, "known_hosts");
    await writeFile(knownHosts, `[127.0.0.1]:${FILE_PORT} ${fileH.hostPublicKey}\n[127.0.0.1]:${COMMAND_PORT} ${cmdH.hostPublicKey}\n`);
    const keys = { bench: join(clientDir, "bench"), floorTrue: join(clientDir, "floor-true"), floorNode: join(clientDir, "floor-node"), floorPlain: join(clientDir, "floor-plain") };
    const benchPub = await keygen(keys.bench, `${BENCH_USER}@bench`);
    const floorTruePub = await keygen(keys.floorTrue, "floor-true@bench");
    const floorNodePub = await keygen(keys.floorNode, "floor-node@bench");
    const floorPlainPub = await keygen(keys.floorPlain, "floor-plain@bench");

    await runPodspawn(INSTANCE, ["remove-user", BENCH_USER, "--force"]);
    must(`add-user ${BENCH_USER}`, await runPodspawn(INSTANCE, ["add-user", BENCH_USER, "--key-file", `${keys.bench}.pub`]));
    await writeFile(join(clientDir, "bproj.yaml"), BENCH_PODFILE);
    for (const p of [BENCH_PROJECT, BENCH_SERVICES_PROJECT]) await runPodspawn(INSTANCE, ["remove-project", p]);
    must(`add-project ${BENCH_PROJECT}`, await runPodspawn(INSTANCE, ["add-project", BENCH_PROJECT, "--podfile", join(clientDir, "bproj.yaml")]));
    must(`add-project ${BENCH_SERVICES_PROJECT}`, await runPodspawn(INSTANCE, ["add-project", BENCH_SERVICES_PROJECT, "--podfile", join(repo, "podfiles", "postgres.yaml")]));
    await ensureFloorUser();
    await mkdir(dirname(floorKeysFile), { recursive: true, mode: 0o755 });
    // Same line shape as a pod user's (restrict,pty,command=...), different forced command.
    await writeFile(floorKeysFile, `restrict,pty,command="/bin/true" ${floorTruePub}\nrestrict,pty,command="${process.execPath} -e 0" ${floorNodePub}\nrestrict ${floorPlainPub}\n`, { mode: 0o644 });

    const [type = "", base64 = ""] = benchPub.split(/\s+/);
    const benchAccount = await account(BENCH_USER);
    const keysAccount = await account(layout.keysUser);
    if (!benchAccount || !keysAccount) throw new Error(`accounts ${BENCH_USER} or ${layout.keysUser} missing after add-user/install`);
    const dir = clientDir;
    return {
      clientDir: dir,
      keys,
      benchKey: { type, base64 },
      benchAccount,
      keysAccount,
      sshArgs: (port, key) => [
        "-F", "/dev/null",
        "-p", String(port),
        "-i", key,
        "-o", "IdentitiesOnly=yes",
        "-o", `UserKnownHostsFile=${knownHosts}`,
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "KexAlgorithms=curve25519-sha256",
        "-o", "LogLevel=ERROR",
        "-o", "ConnectTimeout=10",
      ],
      evict: async () => {
        const r = await sendControl(layout, { op: "evict", user: BENCH_USER }, 30_000);
        if (!r || !r.ok) throw new Error(`evict failed: ${r ? r.error : "no daemon"}`);
        return r.removed;
      },
      // By name: a container claimed from the pool keeps its pool labels (no podspawn.user).
      containerId: () => dockerLines(["ps", "-q", "--filter", `label=podspawn.instance=${INSTANCE}`, "--filter", `name=^/${INSTANCE}.${BENCH_USER}.default$`])[0],
      pooledIds: () => dockerLines(["ps", "-q", "--no-trunc", "--filter", `label=podspawn.instance=${INSTANCE}`, "--filter", "label=podspawn.pooled=true", "--filter", `name=^/${INSTANCE}.pool.`]),
      stop: () => stopAll(dir),
    };
  } catch (err) {
    await stopAll(clientDir);
    throw err;
  }
}

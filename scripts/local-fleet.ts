/**
 * A fleet of N podspawn nodes on this machine, each set up by the real node bootstrap (the script
 * EC2 user-data carries) with file:// sources: `npm run up -- --nodes N` and the fleet e2e tests.
 *
 * What a node is here: an instance of its own (`podspawn-n1`, ...: its own daemon, sockets, state,
 * container names and labels) and an sshd of its own on its own loopback address (127.0.0.11, ...;
 * all of 127/8 is loopback). What the nodes share: this machine's Docker engine (a second dockerd
 * in the root namespace would fight over docker0, and a daemon in a network namespace could not
 * reach the shared engine's bridge to open tunnels), the host accounts of pod users, and one
 * release directory standing in for the artifact bucket (agent and users pointers). So routing,
 * failover, drain and agent upgrades are the real thing; network isolation between nodes is not.
 *
 * Everything started here is stopped by pid files (the bootstrap's and sshd's), never by name.
 * Importing this module has no side effects.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { layoutFor } from "../agent/src/core/host/layout.js";
import type { UsersConfig } from "../agent/src/core/config/users-config.js";
import { formatFleetManifest, validateFleetManifest, type FleetManifest } from "../agent/src/core/fleet/fleet-manifest.js";
import { renderBootstrapScript } from "../infra/src/bootstrap/bootstrap-script.js";
import { fileRelease, publishAgent, publishUsers, type FileRelease } from "../infra/src/ops/file-release.js";
import { readLivePid, removeInstanceContainers, runCommand, type CommandResult } from "./local-node.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BUNDLE_DIR = join(REPO_ROOT, "dist", "bundle");

export interface LocalFleetSpec {
  /** The manifest's fleet label. */
  readonly fleet: string;
  /** Instances are `<instancePrefix><i>` (so `podspawn-n` gives podspawn-n1, ...). */
  readonly instancePrefix: string;
  /** Node names are `<namePrefix><i>`. */
  readonly namePrefix: string;
  readonly nodes: number;
  /** Node i listens on 127.0.0.<firstAddress + i - 1>. */
  readonly firstAddress: number;
  readonly port: number;
  /** Where the release, the manifest, node scripts and status live. */
  readonly stateDir: string;
  /** @default 300 */
  readonly agentPollSeconds?: number;
  /** @default 3600 */
  readonly upgradeMaxWaitSeconds?: number;
  /** @default 60 */
  readonly syncIntervalSeconds?: number;
  /** @default "podspawn/default:bookworm" */
  readonly image?: string;
}

/** `npm run up -- --nodes N`. */
export function upFleetSpec(nodes: number): LocalFleetSpec {
  return { fleet: "local", instancePrefix: "podspawn-n", namePrefix: "n", nodes, firstAddress: 11, port: 2222, stateDir: "/var/lib/podspawn-local-fleet" };
}

export interface LocalNode {
  readonly name: string;
  readonly instance: string;
  readonly listen: string;
  readonly port: number;
  /** The installed node script (`/usr/local/sbin/<instance>-node`): bootstrap, sync-users, update-agent. */
  readonly nodeScript: string;
  /** The rendered bootstrap, run again to restart a stopped node. */
  readonly bootstrapFile: string;
  readonly sshdConfig: string;
  readonly sshdPidFile: string;
  readonly statusFile: string;
}

export interface LocalFleet {
  readonly spec: LocalFleetSpec;
  readonly release: FileRelease;
  readonly nodes: readonly LocalNode[];
  readonly manifest: FleetManifest;
  readonly manifestFile: string;
}

export function fleetNodes(spec: LocalFleetSpec): LocalNode[] {
  return Array.from({ length: spec.nodes }, (_, k) => {
    const i = k + 1;
    const instance = `${spec.instancePrefix}${i}`;
    const sshdDir = `/etc/${instance}-sshd`;
    return {
      name: `${spec.namePrefix}${i}`,
      instance,
      listen: `127.0.0.${spec.firstAddress + k}`,
      port: spec.port,
      nodeScript: `/usr/local/sbin/${instance}-node`,
      bootstrapFile: join(spec.stateDir, "nodes", `${instance}.sh`),
      sshdConfig: `${sshdDir}/sshd_config`,
      sshdPidFile: `/run/${instance}-sshd.pid`,
      statusFile: join(spec.stateDir, "status", `${spec.namePrefix}${i}.json`),
    };
  });
}

function must(what: string, r: CommandResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** sshd's own config for a node: the bootstrap's server-setup adds the Include and our drop-in. */
async function writeSshdConfig(node: LocalNode): Promise<string> {
  const dir = dirname(node.sshdConfig);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const key = join(dir, "ssh_host_ed25519_key");
  if (!existsSync(key)) must("ssh-keygen", await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${node.instance}-host`, "-f", key]));
  if (!existsSync(node.sshdConfig)) {
    await writeFile(node.sshdConfig, [
      `# sshd of local fleet node ${node.name} (${node.instance}), written by scripts/local-fleet.ts.`,
      `ListenAddress ${node.listen}`, `Port ${node.port}`, `HostKey ${key}`, `PidFile ${node.sshdPidFile}`,
      "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin no",
      "LogLevel VERBOSE", "MaxStartups 100:30:200", "Subsystem sftp internal-sftp", "",
    ].join("\n"), { mode: 0o644 });
  }
  return (await readFile(`${key}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
}

function renderNodeScript(spec: LocalFleetSpec, release: FileRelease, node: LocalNode): string {
  return renderBootstrapScript({
    instance: node.instance,
    node: node.name,
    agentPointerUrl: release.agentPointerUrl,
    agentBaseUrl: release.agentBaseUrl,
    usersPointerUrl: release.usersPointerUrl,
    usersBaseUrl: release.usersBaseUrl,
    statusUrl: `file://${node.statusFile}`,
    sshdConfig: node.sshdConfig,
    sshdPidFile: node.sshdPidFile,
    syncIntervalSeconds: spec.syncIntervalSeconds ?? 60,
    agentPollSeconds: spec.agentPollSeconds ?? 300,
    upgradeMaxWaitSeconds: spec.upgradeMaxWaitSeconds ?? 3600,
    ...(spec.image ? { defaultImage: spec.image } : {}),
  });
}

/** Runs a node's bootstrap (first start, or a restart after stopNode); throws with its log on failure. */
export async function bootNode(node: LocalNode): Promise<void> {
  must(`bootstrap of ${node.name}`, await runCommand("bash", [node.bootstrapFile], { timeoutMs: 170_000 }));
}

/**
 * Publishes the agent (with the image kit) and the users, writes each node's sshd config and
 * bootstrap, runs the bootstraps one after the other, and writes the manifest. Idempotent.
 */
export async function startLocalFleet(spec: LocalFleetSpec, users: UsersConfig): Promise<LocalFleet> {
  if (process.getuid?.() !== 0) throw new Error("a local fleet needs root (accounts, sshd, the daemon)");
  for (const d of ["nodes", "status"]) await mkdir(join(spec.stateDir, d), { recursive: true, mode: 0o755 });
  const release = fileRelease(join(spec.stateDir, "release"));
  await publishAgent(release, BUNDLE_DIR, { defaultContext: join(REPO_ROOT, "podfiles", "default") });
  publishUsers(release, users);
  const nodes = fleetNodes(spec);
  const hostKeys = new Map<string, string>();
  for (const node of nodes) {
    hostKeys.set(node.name, await writeSshdConfig(node));
    await writeFile(node.bootstrapFile, renderNodeScript(spec, release, node), { mode: 0o700 });
  }
  await writeFile(join(spec.stateDir, "fleet.json"), JSON.stringify({ spec, nodes }, null, 2) + "\n", { mode: 0o644 });
  for (const node of nodes) await bootNode(node);
  const manifest = validateFleetManifest({
    version: 1,
    fleet: spec.fleet,
    domain: "pod",
    nodes: nodes.map((n) => ({ name: n.name, address: n.listen, port: n.port, hostKeys: [hostKeys.get(n.name)] })),
  });
  const manifestFile = join(spec.stateDir, "manifest.json");
  await writeFile(manifestFile, formatFleetManifest(manifest), { mode: 0o644 });
  return { spec, release, nodes, manifest, manifestFile };
}

/** SIGTERM to the pid in `file` (the process group when `group`), if it is alive and runs `mustContain`. */
async function stopByPidFile(file: string, mustContain: readonly string[], group = false): Promise<boolean> {
  const pid = await readLivePid(file, mustContain);
  if (!pid) return false;
  try {
    process.kill(group ? -pid : pid, "SIGTERM");
  } catch {
    return false;
  }
  for (let i = 0; i < 200 && (await readLivePid(file, mustContain)); i++) await new Promise((r) => setTimeout(r, 50));
  return true;
}

/** A node going down: its sshd and its daemon (the failover tests' "stopped node"). Containers stay. */
export async function stopNode(node: LocalNode): Promise<void> {
  await stopByPidFile(node.sshdPidFile, ["sshd", node.sshdConfig]);
  const run = `/run/${node.instance}-bootstrap`;
  await stopByPidFile(join(run, "daemon.pid"), [`/usr/local/lib/${node.instance}/`, "daemon"]);
}

/** The daemon's pid, from the pid file the daemon writes itself. */
export async function daemonPid(node: LocalNode): Promise<number | undefined> {
  const layout = layoutFor(node.instance);
  return readLivePid(layout.pidFile, [`${layout.libDir}/`, "daemon"]);
}

/** Stops every node of `spec` and removes what the bootstraps made; pod users' host accounts stay (shared). */
export async function removeLocalFleet(spec: LocalFleetSpec): Promise<string[]> {
  const done: string[] = [];
  for (const node of fleetNodes(spec)) {
    const run = `/run/${node.instance}-bootstrap`;
    for (const loop of ["sync-loop", "agent-loop"]) await stopByPidFile(join(run, `${loop}.pid`), ["while sleep"], true);
    await stopNode(node);
    try {
      removeInstanceContainers(node.instance);
    } catch {
      // No engine: nothing of this instance can be running on it either.
    }
    for (const bin of ["iptables", "ip6tables"]) {
      const dst = bin === "iptables" ? "169.254.169.254/32" : "fd00:ec2::254/128";
      for (let i = 0; i < 10; i++) {
        const r = await runCommand(bin, ["-w", "-D", "DOCKER-USER", "-d", dst, "-m", "comment", "--comment", `${node.instance}-imds`, "-j", "DROP"]);
        if (r.code !== 0) break;
      }
    }
    const layout = layoutFor(node.instance);
    for (const p of [layout.libDir, layout.etcDir, layout.stateDir, layout.runDir, run, `/var/lib/${node.instance}-bootstrap`, dirname(node.sshdConfig), node.nodeScript, `/usr/local/sbin/${node.instance}-block-metadata`]) {
      await rm(p, { recursive: true, force: true });
    }
    for (const log of ["daemon", "sync-loop", "agent-loop"]) await rm(`/var/log/${node.instance}-${log}.log`, { force: true });
    done.push(node.name);
  }
  await rm(spec.stateDir, { recursive: true, force: true });
  return done;
}

/** The spec a previous `startLocalFleet` recorded in `stateDir`, if any. */
export async function recordedFleet(stateDir: string): Promise<LocalFleetSpec | null> {
  const text = await readFile(join(stateDir, "fleet.json"), "utf8").catch(() => null);
  return text === null ? null : (JSON.parse(text) as { spec: LocalFleetSpec }).spec;
}

/**
 * A two-node fleet on this machine for the client-routing e2e tests: instances `podspawn-fa` and
 * `podspawn-fb`, each with its own daemon and its own sshd (127.0.0.2:2240 and 127.0.0.3:2240; all of
 * 127/8 is loopback here). Both share the host's Docker engine (containers are told apart by the
 * `podspawn.instance` label) and the host accounts (a pod user is registered with both instances).
 * Built from the same pieces as harness.ts (scripts/local-node.ts plus the real CLI); needs root,
 * Docker and the default image, and fails loudly without them.
 */
import { rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { layoutFor, type Layout } from "../../agent/src/core/host/layout.js";
import { dockerLines, removeInstanceContainers, runCommand, runPodspawn, startDaemon, startSshd, stopDaemon, stopSshd, type CommandResult, type SshdOptions } from "../../scripts/local-node.js";
import { preflight } from "./harness.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const BUNDLE_DIR = join(repo, "dist", "bundle");
export const CLI = join(BUNDLE_DIR, "podspawn.cjs");

export interface FleetNodeSpec {
  /** The node's name in the manifest (the rendezvous hash input). */
  readonly name: string;
  readonly instance: string;
  readonly listen: string;
  readonly port: number;
}

export const FLEET_NODES: readonly FleetNodeSpec[] = [
  { name: "fa", instance: "podspawn-fa", listen: "127.0.0.2", port: 2240 },
  { name: "fb", instance: "podspawn-fb", listen: "127.0.0.3", port: 2240 },
];

/** Grace long enough to look at a container right after a login, short enough to clean up fast. */
export const FLEET_TEST_CONFIG = `image: podspawn/default:bookworm
session:
  mode: grace-period
  grace_period: 10s
resources:
  cpus: 1
  memory: 512m
  pids: 256
# Exact container counts: the normal (create) path; the pool has its own e2e (pool.test.ts).
pool:
  size: 0
  project_size: 0
`;

export interface FleetNode {
  readonly spec: FleetNodeSpec;
  readonly layout: Layout;
  readonly sshd: SshdOptions;
  /** `ssh-ed25519 AAAA...` of this node's sshd. */
  readonly hostPublicKey: string;
  /** What `add-user` printed for each user on this instance. */
  readonly addUserOutput: ReadonlyMap<string, string>;
  /** Running containers of this instance for (user, project), by name. */
  containers(user: string, project: string): string[];
  startSshd(): Promise<void>;
  stopSshd(): Promise<void>;
}

export function must(what: string, r: CommandResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function sshdOptionsFor(spec: FleetNodeSpec, layout: Layout): SshdOptions {
  return { instance: spec.instance, listen: spec.listen, port: spec.port, dir: `${layout.etcDir}/sshd`, logFile: `/var/log/${spec.instance}-sshd.log` };
}

function daemonLog(spec: FleetNodeSpec): string {
  return `/var/log/${spec.instance}-daemon.log`;
}

/**
 * Installs and starts one node, registering `users` (name -> public key file). Clean up every node
 * first (stopFleetNode): removing a user from one instance deletes the shared host account. A user whose host
 * account the other instance already created is registered too: add-user accepts an existing
 * account that is in podspawn-users and not in docker. `projects` are registered as the default
 * environment under their names.
 */
export async function startFleetNode(spec: FleetNodeSpec, users: ReadonlyMap<string, string>, projects: readonly string[] = []): Promise<FleetNode> {
  preflight();
  const layout = layoutFor(spec.instance);
  const sshd = sshdOptionsFor(spec, layout);
  must(`install ${spec.instance}`, await runCommand(process.execPath, [CLI, "install", "--instance", spec.instance, "--bundle-dir", BUNDLE_DIR]));
  await writeFile(layout.configFile, FLEET_TEST_CONFIG, { mode: 0o644 });
  await startDaemon({ instance: spec.instance, logFile: daemonLog(spec) });
  const started = await startSshd(sshd);
  must(`server-setup ${spec.instance}`, await runPodspawn(spec.instance, ["server-setup", "--sshd-config", started.configFile, "--sshd-pid-file", started.pidFile]));
  // A login naming a project the node has not registered is refused: these take the default environment.
  for (const project of projects) must(`add-project ${project} (${spec.instance})`, await runPodspawn(spec.instance, ["add-project", project]));
  const addUserOutput = new Map<string, string>();
  for (const [user, keyFile] of users) addUserOutput.set(user, must(`add-user ${user} (${spec.instance})`, await runPodspawn(spec.instance, ["add-user", user, "--key-file", keyFile])));
  return {
    spec,
    layout,
    sshd,
    hostPublicKey: started.hostPublicKey,
    addUserOutput,
    containers: (user, project) =>
      dockerLines(["ps", "--filter", `label=podspawn.instance=${spec.instance}`, "--filter", `label=podspawn.user=${user}`, "--filter", `label=podspawn.project=${project}`, "--format", "{{.Names}}"]),
    startSshd: async () => {
      await startSshd(sshd);
    },
    stopSshd: async () => {
      await stopSshd(sshd);
    },
  };
}

/**
 * Stops what `startFleetNode` started (by the pid files it wrote), removes the users, containers
 * and networks of the instance, and the instance's trees. Safe when nothing is running.
 */
export async function stopFleetNode(spec: FleetNodeSpec, users: readonly string[]): Promise<void> {
  const layout = layoutFor(spec.instance);
  await stopSshd(sshdOptionsFor(spec, layout));
  await stopDaemon(spec.instance);
  const installed = await runCommand("test", ["-x", layout.command]);
  if (installed.code === 0) for (const user of users) await runPodspawn(spec.instance, ["remove-user", user, "--force"]);
  removeInstanceContainers(spec.instance);
  for (const dir of [layout.libDir, layout.etcDir, layout.stateDir, layout.runDir]) await rm(dir, { recursive: true, force: true });
}

/**
 * `npm run down`: stops what `npm run up` started and removes the sessions' containers and networks.
 *
 * Stops the quick start's sshd and the node daemon by their pid files (after checking the pid is
 * still that program), then removes containers and networks labelled podspawn.instance=<instance>.
 * Kept on purpose: the images (rebuilding costs a minute), persistent home volumes (user data),
 * the install, config and registered users (so `up` is quick again), and dockerd (shared by
 * anything else on the host). Idempotent: a second run says there was nothing to stop.
 *
 * A fleet started by `up --nodes N` goes completely: its nodes' processes, containers, networks,
 * firewall rules, installs and state (pod users' host accounts are kept: they may be shared).
 *
 * Usage: node dist/scripts/down.js
 */
import { rm } from "node:fs/promises";
import { parseArgs } from "node:util";
import { layoutFor } from "../agent/src/core/host/layout.js";
import { $ } from "zx/core";
import { quickstartPaths, readLivePid, stopDaemon, stopSshd } from "./local-node.js";
import { recordedFleet, removeLocalFleet, upFleetSpec } from "./local-fleet.js";

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

const sh = $({ quiet: true, nothrow: true });

async function docker(args: readonly string[]): Promise<string> {
  const r = await sh`docker ${args}`;
  if (r.exitCode !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.exitCode ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

function ids(text: string): string[] {
  return text.split("\n").map((s) => s.trim()).filter((s) => s !== "");
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { instance: { type: "string", default: "podspawn" } } });
  if (process.getuid?.() !== 0) throw new Error("down needs root: run it with sudo");
  const layout = layoutFor(values.instance);
  const paths = quickstartPaths(layout.instance);

  // The fleet `up --nodes N` started, if any: every node's processes, containers and trees.
  const fleet = await recordedFleet(upFleetSpec(1).stateDir);
  if (fleet) say(`fleet: removed nodes ${(await removeLocalFleet(fleet)).join(", ")} (pod users' host accounts kept)`);

  const sshd = await stopSshd(paths.sshd);
  say(sshd.stopped ? `sshd: stopped (pid ${sshd.pid})` : "sshd: was not running");

  const daemon = await stopDaemon(layout.instance);
  say(daemon.stopped ? `daemon: stopped (pid ${daemon.pid}${daemon.how === "killed" ? ", had to SIGKILL" : ""})` : "daemon: was not running");
  await rm(paths.stateDir, { recursive: true, force: true });

  const label = `label=podspawn.instance=${layout.instance}`;
  if ((await sh`docker info --format ${"{{.ServerVersion}}"}`).exitCode !== 0) {
    say("docker: engine not reachable, no containers to remove");
    return;
  }
  const containers = ids(await docker(["ps", "-aq", "--filter", label]));
  if (containers.length > 0) await docker(["rm", "-f", "-v", ...containers]);
  say(`containers: removed ${containers.length}`);
  // Networks after containers: a network with endpoints cannot be removed.
  const networks = ids(await docker(["network", "ls", "-q", "--filter", label]));
  if (networks.length > 0) await docker(["network", "rm", ...networks]);
  say(`networks: removed ${networks.length}`);
  const volumes = ids(await docker(["volume", "ls", "-q", "--filter", label]));
  if (volumes.length > 0) say(`volumes: kept ${volumes.length} persistent home volume(s) (user data; remove with docker volume rm)`);

  const dockerd = await readLivePid("/run/podspawn-dockerd.pid", ["dockerd"]);
  if (dockerd) say(`dockerd: left running (pid ${dockerd}, started by provision-host.sh; other things may use it)`);
  say(`kept: images, ${layout.libDir}, ${layout.etcDir} (config, users, sshd host key); 'npm run up' starts it again`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`down: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

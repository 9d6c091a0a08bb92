import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { DockerRuntime } from "../../agent/src/adapters/docker/docker-runtime.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { planEnvironment } from "../../agent/src/core/podfile/index.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { testPodIds } from "../unit/helpers/pod-ids.js";
import { CAPS, resolveText } from "../unit/helpers/podfile.js";

/**
 * A services network left by a daemon that died between creating it and creating its containers,
 * on the real engine: the next daemon's recover removes it (found by its labels), and keeps one
 * that a container is still attached to, even a container that is only created (the engine itself
 * would remove that network, and the container could never start). Fails loudly without Docker.
 */
const IMAGE = "podspawn/busybox:test";
const INSTANCE = `pst-snr${randomBytes(3).toString("hex")}`;
const runtime = new DockerRuntime();
const node: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: IMAGE, pool: { ...DEFAULT_NODE_CONFIG.pool, size: 0, projectSize: 0 }, networkLingerMs: 0 };

function docker(args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

function lines(args: string[]): string[] {
  return docker(args).split("\n").filter((l) => l !== "");
}

const ourNetworks = () => lines(["network", "ls", "--format", "{{.Name}}", "--filter", `label=podspawn.instance=${INSTANCE}`]).sort();

/** Exactly what the daemon makes before a project's first service: its services network, labelled. */
async function leftBehind(user: string, project: string): Promise<string> {
  const plan = planEnvironment((await resolveText(`base: ${IMAGE}\nservices: [{name: db, image: ${IMAGE}}]\n`)).podfile, { instance: INSTANCE, user, project, nodeConfig: node, caps: CAPS });
  assert.ok(plan.servicesNetwork);
  await runtime.ensureNetwork(plan.servicesNetwork);
  return plan.servicesNetwork.name;
}

after(() => {
  for (const id of lines(["ps", "-aq", "--filter", `label=podspawn.test=${INSTANCE}`])) docker(["rm", "-f", id]);
  for (const n of ourNetworks()) docker(["network", "rm", n]);
});

describe("services networks after a daemon restart, on the real engine", { timeout: 120_000 }, () => {
  it("recover removes a services network without containers whose (user, project) has no environment, and keeps one a created container is attached to", async () => {
    const orphan = await leftBehind("alice", "web");
    const held = await leftBehind("bob", "web");
    // Not ours, not started: only attached.
    docker(["create", "--name", `${INSTANCE}-holder`, "--label", `podspawn.test=${INSTANCE}`, "--network", held, IMAGE, "sleep", "1"]);
    assert.deepEqual(ourNetworks(), [orphan, held].sort());

    const events: DaemonEvent[] = [];
    const envs = new Environments({ instance: INSTANCE, runtime, podIdOf: testPodIds(), config: () => node, log: (e) => events.push(e) });
    await envs.recover();

    assert.deepEqual(ourNetworks(), [held], "the orphan is gone; the held one stays");
    assert.ok(events.some((e) => e.kind === "network-removed" && e.network === orphan && e.reason === "orphaned"), JSON.stringify(events));
    assert.ok(events.some((e) => e.kind === "error" && e.code === "network-remove" && (e.detail ?? "").includes(`${INSTANCE}-holder`)), JSON.stringify(events));
    // The container it kept the network for can still start on it.
    docker(["start", `${INSTANCE}-holder`]);
  });
});

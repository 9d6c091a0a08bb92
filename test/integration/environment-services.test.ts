import { after, describe, it } from "node:test";
import { testPodIds } from "../unit/helpers/pod-ids.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { DockerRuntime } from "../../agent/src/adapters/docker/docker-runtime.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { planEnvironment, type EnvironmentPlan } from "../../agent/src/core/podfile/index.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { CAPS, resolveText } from "../unit/helpers/podfile.js";

/**
 * Companion services on the real engine with the real service image (podspawn/postgres, built by
 * scripts/build-image): readiness, volumes per user and project, removal with the environment,
 * and adoption after a daemon restart. Needs Docker and both images; fails loudly otherwise.
 */
const MAIN = "podspawn/default:bookworm";
const PG = "podspawn/postgres:15-bookworm";
const INSTANCE = `pst-svc${randomBytes(3).toString("hex")}`;
const runtime = new DockerRuntime();

function docker(args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

function lines(args: string[]): string[] {
  return docker(args).split("\n").filter((l) => l !== "");
}

const node: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: MAIN, pool: { ...DEFAULT_NODE_CONFIG.pool, size: 0, projectSize: 0 }, networkLingerMs: 0, session: { ...DEFAULT_NODE_CONFIG.session, gracePeriodMs: 600_000, maxLifetimeMs: 0, idleTimeoutMs: 0 } };

const PODFILE = `base: ${MAIN}
env: {PGHOST: postgres, PGUSER: postgres, PGPASSWORD: devpass}
services:
  - name: postgres
    image: ${PG}
    ports: [5432]
    env: {POSTGRES_PASSWORD: devpass, POSTGRES_DB: dev}
    volumes: [pgdata:/var/lib/postgresql/data]
    ready: {port: 5432, timeout: 60s}
on_create: echo created-once >> /tmp/on-create-runs
`;

async function planOf(user: string, project: string, cfg: NodeConfig = node): Promise<EnvironmentPlan> {
  return planEnvironment((await resolveText(PODFILE)).podfile, { instance: INSTANCE, user, project, nodeConfig: cfg, caps: CAPS });
}

function daemon(cfg: NodeConfig = node): { envs: Environments; events: DaemonEvent[] } {
  const events: DaemonEvent[] = [];
  return { envs: new Environments({ instance: INSTANCE, runtime, podIdOf: testPodIds(), config: () => cfg, log: (e) => events.push(e) }), events };
}

/** Runs `script` as root in a throwaway container on `network` (an independent probe, not our code). */
function probe(network: string, script: string): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync("docker", ["run", "--rm", "--network", network, MAIN, "sh", "-c", script], { encoding: "utf8", timeout: 60_000 }).trim() };
  } catch (err) {
    return { code: (err as { status?: number }).status ?? 1, out: String((err as { stdout?: string }).stdout ?? "") };
  }
}

after(() => {
  for (const id of lines(["ps", "-aq", "--filter", `label=podspawn.instance=${INSTANCE}`])) docker(["rm", "-f", "-v", id]);
  for (const n of lines(["network", "ls", "-q", "--filter", `label=podspawn.instance=${INSTANCE}`])) docker(["network", "rm", n]);
  for (const v of lines(["volume", "ls", "-q", "--filter", `label=podspawn.instance=${INSTANCE}`])) docker(["volume", "rm", v]);
});

describe("companion services on the real engine", { timeout: 300_000 }, () => {
  const { envs, events } = daemon();

  it("starts postgres hardened on an internal network, waits until it accepts connections, then runs on_create; the dev container reaches it by name", async () => {
    const env = await envs.acquire("alice", "web", { plan: await planOf("alice", "web") });
    const svc = `${INSTANCE}.alice.web.postgres`;
    const ready = events.findIndex((e) => e.kind === "service-ready");
    const setup = events.findIndex((e) => e.kind === "setup-done");
    assert.ok(ready >= 0 && setup > ready, JSON.stringify(events.map((e) => e.kind)));
    const inspect = JSON.parse(docker(["inspect", svc])) as [{ HostConfig: Record<string, unknown>; NetworkSettings: { Networks: Record<string, { Aliases?: string[] }>; Ports: Record<string, unknown> } }];
    const hc = inspect[0].HostConfig;
    assert.deepEqual(hc.CapDrop, ["ALL"]);
    assert.deepEqual(hc.SecurityOpt, ["no-new-privileges:true"]);
    assert.equal(hc.ReadonlyRootfs, true);
    assert.ok((hc.PidsLimit as number) > 0 && (hc.Memory as number) > 0 && (hc.NanoCpus as number) > 0);
    assert.deepEqual(hc.PortBindings ?? {}, {});
    assert.deepEqual(Object.keys(inspect[0].NetworkSettings.Networks), [`${INSTANCE}.alice.web.services`]);
    assert.ok(inspect[0].NetworkSettings.Networks[`${INSTANCE}.alice.web.services`]?.Aliases?.includes("postgres"));
    assert.equal(docker(["network", "inspect", "--format", "{{.Internal}}", `${INSTANCE}.alice.web.services`]), "true");
    // From the dev container: the service's DNS name on the services network, port open.
    assert.equal(execFileSync("docker", ["exec", env.containerId, "bash", "-c", "exec 3<>/dev/tcp/postgres/5432 && echo open"], { encoding: "utf8", timeout: 30_000 }).trim(), "open");
    // And a real query over that network (psql from the service image, as a probe container).
    const psql = execFileSync("docker", ["run", "--rm", "--network", `${INSTANCE}.alice.web.services`, "-e", "PGPASSWORD=devpass", "--entrypoint", "psql", PG, "-h", "postgres", "-U", "postgres", "-d", "dev", "-tAc", "select 1"], { encoding: "utf8", timeout: 30_000 });
    assert.equal(psql.trim(), "1");
    assert.equal(docker(["exec", env.containerId, "cat", "/tmp/on-create-runs"]), "created-once");
  });

  it("keeps postgres from the outside: nothing leaves the services network, and another user's network cannot reach it", async () => {
    // An internal network: the engine drops whatever leaves its bridge for another interface.
    const net = `${INSTANCE}.alice.web.services`;
    const bridge = `br-${docker(["network", "inspect", "--format", "{{.Id}}", net]).slice(0, 12)}`;
    const subnet = docker(["network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", net]);
    const rules = execFileSync("iptables", ["-S", "DOCKER-ISOLATION-STAGE-1"], { encoding: "utf8" });
    assert.ok(rules.split("\n").some((r) => r.includes(`-i ${bridge}`) && r.includes(`! -d ${subnet}`) && r.endsWith("-j DROP")), rules);
    await envs.acquire("bob", "web", { plan: await planOf("bob", "web") });
    const alicePg = docker(["inspect", "--format", `{{(index .NetworkSettings.Networks "${INSTANCE}.alice.web.services").IPAddress}}`, `${INSTANCE}.alice.web.postgres`]);
    // Control first: bob's own services network answers on its own postgres.
    const own = probe(`${INSTANCE}.bob.web.services`, "timeout 5 bash -c 'exec 3<>/dev/tcp/postgres/5432' && echo reached || echo blocked");
    assert.equal(own.out, "reached");
    const cross = probe(`${INSTANCE}.bob`, `timeout 5 bash -c 'exec 3<>/dev/tcp/${alicePg}/5432' && echo reached || echo blocked`);
    assert.equal(cross.out, "blocked");
  });

  it("scopes volumes per user and project: alice's data is not bob's", async () => {
    const vols = lines(["volume", "ls", "--format", "{{.Name}}", "--filter", `label=podspawn.instance=${INSTANCE}`]).sort();
    assert.deepEqual(vols, [`${INSTANCE}.alice.web.pgdata`, `${INSTANCE}.bob.web.pgdata`]);
  });

  it("after a daemon restart adopts alice's environment with its service, runs on_create no more, and removes both with their network and volume", async () => {
    const again = daemon();
    assert.equal(await again.envs.recover(), 2);
    const env = await again.envs.acquire("alice", "web", { plan: await planOf("alice", "web") });
    assert.equal(docker(["exec", env.containerId, "cat", "/tmp/on-create-runs"]), "created-once");
    assert.equal(again.envs.list().find((e) => e.key === "alice/web")?.services, 1);
    await again.envs.destroy(env, "test");
    assert.deepEqual(lines(["ps", "-a", "--format", "{{.Names}}", "--filter", `label=podspawn.user=alice`, "--filter", `label=podspawn.instance=${INSTANCE}`]), []);
    assert.deepEqual(lines(["network", "ls", "--format", "{{.Name}}", "--filter", `name=${INSTANCE}.alice.web.services`]), []);
    assert.deepEqual(lines(["volume", "ls", "--format", "{{.Name}}", "--filter", `name=${INSTANCE}.alice.web.pgdata`]), []);
  });
});

import { testPodIds } from "./helpers/pod-ids.js";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import type { ContainerRuntime } from "../../agent/src/core/ports/container-runtime.js";
import { containerName, containerSpec, networkName } from "../../agent/src/core/container/container-spec.js";
import { blockOf } from "../../agent/src/core/net/cidr.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { parseClaimMarker, READY_MARKER_PATH, renderReadyMarker } from "../../agent/src/core/container/ready-marker.js";
import { isPooled, isPooledNetworkName, POOL_LABEL } from "../../agent/src/core/container/pool-spec.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { minimalImage } from "./helpers/fake-image.js";

const IMAGE = "podspawn/test:fake";
const INSTANCE = "pst";

const image = (): Map<string, Buffer> => minimalImage({ bash: false });

type Over = { readonly pool?: Partial<NodeConfig["pool"]>; readonly maxEnvironments?: number; readonly memoryBytes?: number; readonly mode?: NodeConfig["session"]["mode"]; readonly addressPool?: NodeConfig["network"] };

function makeConfig(o: Over = {}): NodeConfig {
  return {
    ...DEFAULT_NODE_CONFIG,
    image: IMAGE,
    session: { ...DEFAULT_NODE_CONFIG.session, mode: o.mode ?? "grace-period", gracePeriodMs: 3_600_000, maxLifetimeMs: 0, idleTimeoutMs: 0 },
    resources: { ...DEFAULT_NODE_CONFIG.resources, memoryBytes: o.memoryBytes ?? DEFAULT_NODE_CONFIG.resources.memoryBytes },
    limits: { ...DEFAULT_NODE_CONFIG.limits, maxEnvironments: o.maxEnvironments ?? DEFAULT_NODE_CONFIG.limits.maxEnvironments },
    pool: { size: 2, projectSize: 1, specsIdleAfterMs: 30 * 60_000, ...o.pool },
    networkLingerMs: 0,
    ...(o.addressPool ? { network: o.addressPool } : {}),
  };
}

interface World {
  readonly runtime: FakeRuntime;
  readonly envs: Environments;
  readonly events: DaemonEvent[];
  setConfig(o: Over): void;
  advance(ms: number): void;
  /** A daemon restarted on the same engine. */
  restart(): Environments;
}

function world(o: Over = {}, runtime = new FakeRuntime(new Map([[IMAGE, image()]])), engine: ContainerRuntime = runtime, refuseNew?: () => Error | null): World {
  let config = makeConfig(o);
  let clock = 1_000_000;
  const events: DaemonEvent[] = [];
  const make = (): Environments => new Environments({ instance: INSTANCE, runtime: engine, podIdOf: testPodIds(), config: () => config, log: (e) => events.push(e), now: () => clock, ...(refuseNew ? { refuseNew } : {}) });
  return {
    runtime,
    envs: make(),
    events,
    setConfig: (x) => (config = makeConfig(x)),
    advance: (ms) => (clock += ms),
    restart: make,
  };
}

async function settle(turns = 200): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

const pooledOf = (r: FakeRuntime) => [...r.containers.values()].filter((c) => isPooled(c.spec.labels) && c.spec.name.split(".")[1] === "pool");

describe("Pool: filling", () => {
  it("fills the default environment's pool to pool.size with started containers hardened like a user's, each alone on a network of its own, naming nobody", async () => {
    const w = world();
    await w.envs.pool.refill();
    const pooled = pooledOf(w.runtime);
    assert.equal(pooled.length, 2);
    const user = containerSpec(INSTANCE, "alice", "default", makeConfig());
    assert.equal(new Set(pooled.map((c) => c.spec.network)).size, 2, "one network per pooled container");
    for (const c of pooled) {
      assert.equal(c.running, true);
      assert.ok(isPooledNetworkName(INSTANCE, c.spec.network), c.spec.network);
      const net = w.runtime.networks.get(c.spec.network);
      assert.equal(net?.labels[POOL_LABEL.network], "true");
      assert.equal(net?.labels["podspawn.user"], undefined, "the network names nobody either");
      assert.ok(net && net.internal !== true && net.subnet, "a user network in all but the name: NAT out, a block of the address pool");
      assert.deepEqual([...w.runtime.containers.values()].filter((x) => x.spec.network === c.spec.network).map((x) => x.id), [c.id], "nothing else on it");
      assert.deepEqual([c.spec.image, c.spec.ociRuntime, c.spec.cpus, c.spec.memoryBytes, c.spec.pidsLimit, c.spec.capAdd, c.spec.keepAliveUser, c.spec.hostname], [user.image, user.ociRuntime, user.cpus, user.memoryBytes, user.pidsLimit, user.capAdd, user.keepAliveUser, user.hostname]);
      assert.equal(c.spec.labels["podspawn.user"], undefined);
      assert.equal(c.files.has(READY_MARKER_PATH), false, "pristine: no account, no marker");
    }
    assert.equal(w.envs.list().length, 0, "the table holds no pooled container");
    assert.equal(w.events.filter((e) => e.kind === "pool-filled").length, 2);
  });

  it("keeps no pool with pool.size 0, in persistent mode (a per-user mount), or on a drained node", async () => {
    for (const w of [world({ pool: { size: 0 } }), world({ mode: "persistent" }), world({}, undefined, undefined, () => new Error("drained"))]) {
      await w.envs.pool.refill();
      assert.equal(w.runtime.calls.create, 0);
    }
  });

  it("fills only into free node capacity: users' environments and the pool together never exceed max_environments", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    let peak = 0;
    const counting: ContainerRuntime = Object.assign(Object.create(runtime) as FakeRuntime, {
      create: async (spec: Parameters<ContainerRuntime["create"]>[0]) => {
        const id = await runtime.create(spec);
        peak = Math.max(peak, runtime.containers.size);
        return id;
      },
    });
    const w = world({ maxEnvironments: 2 }, runtime, counting);
    await w.envs.pool.refill();
    assert.equal(pooledOf(runtime).length, 2);
    // Another project is another template: a miss, so an idle pooled container gives its slot up.
    await w.envs.acquire("alice", "web");
    await settle();
    await w.envs.acquire("bob", "default");
    await settle();
    assert.ok(peak <= 2, `at most 2 containers at once, saw ${peak}`);
    assert.equal(w.envs.list().length, 2);
    assert.equal(runtime.containers.size, 2, "no pooled container left beside two users at capacity");
    assert.ok(w.events.some((e) => e.kind === "pool-removed" && e.reason === "capacity"));
  });
});

describe("Pool: claims", () => {
  it("serves a first login from the pool: renamed for the user, kept on the network made for it, account and a claim marker written, nothing created on the login path", async () => {
    const w = world();
    await w.envs.pool.refill();
    const ids = new Set(pooledOf(w.runtime).map((c) => c.id));
    const networks = new Map(pooledOf(w.runtime).map((c) => [c.id, c.spec.network]));
    const creates = w.runtime.calls.create;
    const netCreates = w.runtime.calls.createNetwork;
    const env = await w.envs.acquire("alice", "default");
    assert.equal(w.runtime.calls.create, creates, "the claim creates nothing, and the refill waits for it");
    assert.equal(w.runtime.calls.createNetwork, netCreates, "nor a network");
    assert.ok(ids.has(env.containerId));
    const c = w.runtime.containers.get(env.containerId);
    assert.equal(c?.spec.name, containerName(INSTANCE, "alice", "default"));
    assert.equal(c?.spec.network, networks.get(env.containerId));
    assert.equal(env.network, networks.get(env.containerId), "its address (tunnels) is looked up there");
    assert.equal(w.runtime.networks.has(networkName(INSTANCE, "alice")), false, "no user network made for it");
    assert.ok(c?.files.get("/etc/passwd")?.toString().includes("alice:"));
    const marker = parseClaimMarker(c?.files.get(READY_MARKER_PATH)?.toString() ?? "", env.containerId, "alice");
    assert.equal(marker?.claim.project, "default");
    assert.deepEqual(env.account, marker?.account);
    assert.ok(w.events.some((e) => e.kind === "pool-claimed" && e.user === "alice"));
    assert.equal(w.events.some((e) => e.kind === "container-created"), false);
  });

  it("refills in the background after a claim, back to pool.size, and a claimed container never returns to it", async () => {
    const w = world();
    await w.envs.pool.refill();
    const env = await w.envs.acquire("alice", "default");
    await settle();
    assert.equal(w.envs.pool.idleCount(), 2);
    await w.envs.destroy(env, "stopped");
    await w.envs.pool.refill();
    assert.equal(w.runtime.containers.has(env.containerId), false, "removed, not pooled again");
    const next = await w.envs.acquire("bob", "default");
    assert.notEqual(next.containerId, env.containerId);
  });

  it("removes the network made for a claimed container with it, and a user network of that user only if one exists", async () => {
    const w = world({ pool: { size: 1 } });
    await w.envs.pool.refill();
    const env = await w.envs.acquire("alice", "default");
    assert.ok(isPooledNetworkName(INSTANCE, env.network));
    await w.envs.destroy(env, "stopped");
    assert.equal(w.runtime.networks.has(env.network), false, "its network went with it");
    assert.ok(w.events.some((e) => e.kind === "network-removed" && e.network === env.network));
    assert.equal(w.events.some((e) => e.kind === "network-removed" && e.network === networkName(INSTANCE, "alice")), false, "no removal of a user network that never existed");
  });

  it("gives up an idle pooled container (with its network) when a user needs the last block of the address pool", async () => {
    // Four /24 blocks: the pool of 2 holds two, alice and bob (a miss each: another project) the rest.
    const w = world({ addressPool: { pool: blockOf("10.90.0.0/22") ?? assert.fail("cidr"), subnetPrefix: 24, blockPrivateRanges: true } });
    await w.envs.pool.refill();
    assert.equal(pooledOf(w.runtime).length, 2);
    await w.envs.acquire("alice", "web");
    const carol = w.envs.acquire("carol", "web");
    await w.envs.acquire("bob", "web");
    await carol;
    assert.equal(w.envs.list().length, 3, "all three users landed");
    assert.ok(w.events.some((e) => e.kind === "pool-removed" && e.reason === "address-pool"));
    const netsOfPool = [...w.runtime.networks.keys()].filter((n) => isPooledNetworkName(INSTANCE, n));
    assert.ok(netsOfPool.length <= 1, `at most one pooled network left in four blocks, saw ${netsOfPool.join(", ")}`);
  });

  it("serves two of ten concurrent first logins from a pool of 2 and the rest the normal way, each user in a container of their own", async () => {
    const w = world();
    await w.envs.pool.refill();
    const pooled = new Set(pooledOf(w.runtime).map((c) => c.id));
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    const envs = await Promise.all(users.map((u) => w.envs.acquire(u, "default")));
    assert.equal(new Set(envs.map((e) => e.containerId)).size, 10);
    assert.equal(envs.filter((e) => pooled.has(e.containerId)).length, 2);
    assert.equal(w.events.filter((e) => e.kind === "pool-claimed").length, 2);
    assert.equal(w.events.filter((e) => e.kind === "pool-miss").length, 8);
    for (const e of envs) assert.equal(w.runtime.containers.get(e.containerId)?.spec.name, containerName(INSTANCE, e.user, "default"));
  });

  it("falls back to the normal path when a claim fails, and removes the half-claimed container and its network", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const broken: ContainerRuntime = Object.assign(Object.create(runtime) as FakeRuntime, { rename: async () => Promise.reject(new Error("engine said no")) });
    const w = world({}, runtime, broken);
    await w.envs.pool.refill();
    const pooled = pooledOf(runtime).map((c) => [c.id, c.spec.network] as const);
    const env = await w.envs.acquire("alice", "default");
    assert.equal(pooled.some(([id]) => id === env.containerId), false);
    assert.equal(runtime.containers.get(env.containerId)?.spec.name, containerName(INSTANCE, "alice", "default"));
    assert.equal(env.network, networkName(INSTANCE, "alice"), "the normal path: the user's network");
    assert.equal(pooled.filter(([id]) => runtime.containers.has(id)).length, 1, "the one it tried is gone");
    assert.equal(pooled.filter(([, net]) => runtime.networks.has(net)).length, 1, "and its network");
    assert.ok(w.events.some((e) => e.kind === "error" && e.code === "pool-fill"));
  });

  it("keeps a pool of project_size for a project spec once used, and drops it specs_idle_after later", async () => {
    const w = world();
    await w.envs.acquire("alice", "web");
    await settle();
    const web = () => pooledOf(w.runtime).filter((c) => c.spec.hostname === "web").length;
    assert.equal(web(), 1);
    w.advance(31 * 60_000);
    await w.envs.pool.refill();
    await settle();
    assert.equal(web(), 0);
    assert.equal(pooledOf(w.runtime).length, 2, "the default environment's pool stays");
  });
});

describe("Pool: spec changes and restarts", () => {
  it("drains the old pool when the config changes the spec, and refills with the new one", async () => {
    const w = world();
    await w.envs.pool.refill();
    const old = pooledOf(w.runtime).map((c) => c.id);
    w.setConfig({ memoryBytes: 1024 ** 3 });
    await w.envs.pool.refill();
    await settle();
    const now = pooledOf(w.runtime);
    assert.equal(now.length, 2);
    assert.ok(now.every((c) => !old.includes(c.id) && c.spec.memoryBytes === 1024 ** 3));
    assert.equal(w.events.filter((e) => e.kind === "pool-removed" && e.reason === "drained").length, 2);
  });

  it("drains every old container after a claim and a restart too (the claimed spec is not kept as a seen one)", async () => {
    const w = world();
    await w.envs.pool.refill();
    await w.envs.acquire("alice", "default");
    await settle();
    const again = w.restart();
    await again.recover();
    await again.acquire("bob", "default");
    await settle();
    w.setConfig({ memoryBytes: 1024 ** 3 });
    await again.pool.refill();
    await settle();
    assert.deepEqual(pooledOf(w.runtime).map((c) => c.spec.memoryBytes), [1024 ** 3, 1024 ** 3]);
  });

  it("drains the old pool when the image tag moves (a rebuilt image)", async () => {
    const w = world();
    await w.envs.pool.refill();
    const old = pooledOf(w.runtime).map((c) => c.id);
    w.runtime.moveTag(IMAGE);
    await w.envs.pool.refill();
    await settle();
    assert.ok(pooledOf(w.runtime).every((c) => !old.includes(c.id)));
    assert.equal(pooledOf(w.runtime).length, 2);
  });

  it("is adopted after a daemon restart, not duplicated, and never as anyone's environment", async () => {
    const w = world();
    await w.envs.pool.refill();
    const ids = pooledOf(w.runtime).map((c) => c.id).sort();
    const creates = w.runtime.calls.create;
    const again = w.restart();
    assert.equal(await again.recover(), 0, "no environment recovered from the pool");
    await again.pool.refill();
    assert.equal(again.pool.idleCount(), 2);
    assert.equal(w.runtime.calls.create, creates);
    assert.deepEqual(pooledOf(w.runtime).map((c) => c.id).sort(), ids);
    assert.equal(again.list().length, 0);
  });

  it("removes after a restart an unclaimed pooled container that has a ready marker (a claim cut short)", async () => {
    const w = world();
    await w.envs.pool.refill();
    const [victim] = pooledOf(w.runtime);
    assert.ok(victim);
    victim.files.set(READY_MARKER_PATH, Buffer.from(renderReadyMarker(victim.id, { name: "alice", uid: 1000, gid: 1000, home: "/home/alice", shell: "/bin/sh" }, { project: "default", claimedAtMs: 1 })));
    const again = w.restart();
    await again.recover();
    assert.equal(w.runtime.containers.has(victim.id), false);
    assert.equal(again.pool.idleCount(), 1);
  });

  it("adopts a claimed container after a restart from its marker, as its user's, with max_lifetime counted from the claim", async () => {
    const w = world();
    await w.envs.pool.refill();
    const env = await w.envs.acquire("alice", "default");
    await settle();
    const again = w.restart();
    assert.equal(await again.recover(), 1);
    const [back] = again.list();
    assert.deepEqual(back && [back.user, back.project, back.containerId, back.createdAt], ["alice", "default", env.containerId, env.createdAt]);
    assert.deepEqual(back?.account, env.account);
    const reused = await again.acquire("alice", "default");
    assert.equal(reused.containerId, env.containerId);
    assert.equal(again.pool.idleCount(), 2, "the claimed one is not back in the pool");
  });

  it("removes after a restart a claimed container that has no address on the network made for it, and that network", async () => {
    const w = world();
    await w.envs.pool.refill();
    const env = await w.envs.acquire("alice", "default");
    const c = w.runtime.containers.get(env.containerId);
    assert.ok(c);
    c.spec = { ...c.spec, network: "none" };
    const again = w.restart();
    assert.equal(await again.recover(), 0);
    assert.equal(w.runtime.containers.has(env.containerId), false);
    assert.equal(w.runtime.networks.has(env.network), false);
  });

  it("adopts after a restart a container claimed by an older daemon (connected to its user's network, no network of its own)", async () => {
    const w = world();
    await w.envs.pool.refill();
    const env = await w.envs.acquire("alice", "default");
    const c = w.runtime.containers.get(env.containerId);
    assert.ok(c);
    await w.runtime.ensureNetwork({ name: networkName(INSTANCE, "alice"), labels: { "podspawn.managed": "true", "podspawn.instance": INSTANCE, "podspawn.user": "alice" }, subnet: null });
    const labels: Record<string, string> = { ...c.spec.labels };
    delete labels[POOL_LABEL.network];
    c.spec = { ...c.spec, network: networkName(INSTANCE, "alice"), labels };
    const again = w.restart();
    assert.equal(await again.recover(), 1);
    assert.deepEqual(again.list().map((e) => [e.containerId, e.network]), [[env.containerId, networkName(INSTANCE, "alice")]]);
  });

  it("removes after a restart the pool's networks that no container names (a daemon that died between network and container)", async () => {
    const w = world({ pool: { size: 1 } });
    await w.envs.pool.refill();
    const [kept] = pooledOf(w.runtime);
    await w.runtime.ensureNetwork({ name: `${INSTANCE}.pool.deadbeef`, labels: { "podspawn.managed": "true", "podspawn.instance": INSTANCE, [POOL_LABEL.network]: "true" }, subnet: null });
    await w.runtime.ensureNetwork({ name: `${INSTANCE}.pool.cafecafe`, labels: { "podspawn.managed": "true", "podspawn.instance": "other", [POOL_LABEL.network]: "true" }, subnet: null });
    const again = w.restart();
    await again.recover();
    assert.equal(w.runtime.networks.has(`${INSTANCE}.pool.deadbeef`), false, "the orphan went");
    assert.equal(w.runtime.networks.has(`${INSTANCE}.pool.cafecafe`), true, "another instance's is not ours");
    assert.ok(kept && w.runtime.networks.has(kept.spec.network), "an adopted pooled container keeps its network");
    assert.equal(again.pool.idleCount(), 1);
  });

  it("removes after a restart a claimed container whose marker names another project (not proof of this claim)", async () => {
    const w = world();
    await w.envs.pool.refill();
    const env = await w.envs.acquire("alice", "default");
    const c = w.runtime.containers.get(env.containerId);
    assert.ok(c && env.account);
    c.files.set(READY_MARKER_PATH, Buffer.from(renderReadyMarker(env.containerId, env.account, { project: "other", claimedAtMs: 1 })));
    const again = w.restart();
    await again.recover();
    const next = await again.acquire("alice", "default");
    assert.notEqual(next.containerId, env.containerId);
    assert.equal(w.runtime.containers.has(env.containerId), false);
  });
});

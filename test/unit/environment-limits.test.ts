import { testPodIds } from "./helpers/pod-ids.js";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { LimitRefusal } from "../../agent/src/core/container/admission.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { formatCidr, overlaps, readCidr, type Cidr } from "../../agent/src/core/net/cidr.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { minimalImage } from "./helpers/fake-image.js";

const IMAGE = "podspawn/test:fake";
const INSTANCE = "pst";

function cidr(text: string): Cidr {
  const r = readCidr(text);
  if (!r.ok) throw new Error(r.problem);
  return r.value;
}

const image = (): Map<string, Buffer> => minimalImage({ bash: false });

function config(over: { limits?: Partial<NodeConfig["limits"]>; network?: NodeConfig["network"] } = {}): NodeConfig {
  return {
    ...DEFAULT_NODE_CONFIG,
    // The normal path: the pool has its own tests (pool.test.ts, and the claim cases there).
    pool: { ...DEFAULT_NODE_CONFIG.pool, size: 0, projectSize: 0 },
    image: IMAGE,
    // Nothing here relies on the shared-node defaults; timers stay out of the way.
    session: { ...DEFAULT_NODE_CONFIG.session, gracePeriodMs: 60_000, maxLifetimeMs: 0, idleTimeoutMs: 0 },
    limits: { ...DEFAULT_NODE_CONFIG.limits, ...over.limits },
    network: over.network ?? DEFAULT_NODE_CONFIG.network,
    networkLingerMs: 0,
  };
}

function harness(c: NodeConfig, runtime = new FakeRuntime(new Map([[IMAGE, image()]]))): { runtime: FakeRuntime; envs: Environments; events: DaemonEvent[] } {
  const events: DaemonEvent[] = [];
  const envs = new Environments({ instance: INSTANCE, runtime, podIdOf: testPodIds(), config: () => c, log: (e) => events.push(e) });
  return { runtime, envs, events };
}

function refusedWith(limit: string, message: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof LimitRefusal, `expected a LimitRefusal, got ${String(err)}`);
    assert.equal(err.limit, limit);
    assert.equal(err.message, message);
    return true;
  };
}

describe("Environments: per-user quotas", () => {
  it("refuses a user's next project past environments_per_user, creating nothing, and logs the refusal", async () => {
    const { runtime, envs, events } = harness(config({ limits: { environmentsPerUser: 2 } }));
    await envs.acquire("alice", "a");
    await envs.acquire("alice", "b");
    await assert.rejects(envs.acquire("alice", "c"), refusedWith("environments-per-user", "you already have 2 environments on this node (limit 2): a, b; end every session of one and it goes after 60 s, or ask the admin"));
    assert.equal(runtime.calls.create, 2);
    assert.equal(envs.has("alice", "c"), false);
    assert.deepEqual(events.at(-1), { kind: "refused", user: "alice", project: "c", limit: "environments-per-user", message: "you already have 2 environments on this node (limit 2): a, b; end every session of one and it goes after 60 s, or ask the admin" });
  });

  it("counts each user on their own: another user still gets their environments", async () => {
    const { envs } = harness(config({ limits: { environmentsPerUser: 1 } }));
    await envs.acquire("alice", "a");
    await envs.acquire("bob", "a");
    assert.equal(envs.list().length, 2);
  });

  it("refuses the session past sessions_per_user, and admits again once one is released", async () => {
    const { envs } = harness(config({ limits: { sessionsPerUser: 3 } }));
    const held = [await envs.acquire("alice", "a"), await envs.acquire("alice", "b"), await envs.acquire("alice", "a")];
    await assert.rejects(envs.acquire("alice", "a"), refusedWith("sessions-per-user", "you already have 3 sessions on this node (limit 3); end one and try again"));
    envs.release(held[0] as never);
    const again = await envs.acquire("alice", "a");
    assert.equal(again.sessions, 2);
  });

  it("lets 20 concurrent sessions of one user in under the default quota", async () => {
    const { runtime, envs } = harness(config());
    const all = await Promise.all(Array.from({ length: 20 }, () => envs.acquire("alice", "default")));
    assert.equal(new Set(all.map((e) => e.containerId)).size, 1);
    assert.equal(all[0]?.sessions, 20);
    assert.equal(runtime.calls.create, 1);
  });
});

describe("Environments: node capacity", () => {
  it("admits exactly max_environments of many concurrent first logins of different users and refuses the rest with the node-full line", async () => {
    const { runtime, envs, events } = harness(config({ limits: { maxEnvironments: 3 } }));
    const users = ["u1", "u2", "u3", "u4", "u5", "u6"];
    const results = await Promise.allSettled(users.map((u) => envs.acquire(u, "default")));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 3);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === "rejected")) refusedWith("max-environments", "this node is full (3 environments); try again later or ask the admin")(r.reason);
    assert.equal(runtime.calls.create, 3);
    assert.equal(runtime.calls.createNetwork, 3, "a refused user gets no network either");
    assert.equal(events.filter((e) => e.kind === "refused").length, 3);
  });

  it("admits a new environment again once one has gone", async () => {
    const { envs } = harness(config({ limits: { maxEnvironments: 1 } }));
    const a = await envs.acquire("u1", "default");
    await assert.rejects(envs.acquire("u2", "default"), LimitRefusal);
    await envs.destroy(a, "evicted");
    await envs.acquire("u2", "default");
    assert.deepEqual(envs.list().map((e) => e.user), ["u2"]);
  });

  it("refuses with the node-full line when the address pool has no block left, creating no container", async () => {
    const { runtime, envs, events } = harness(config({ network: { pool: cidr("10.99.0.0/27"), subnetPrefix: 28, blockPrivateRanges: false } }));
    await envs.acquire("u1", "default");
    await envs.acquire("u2", "default");
    await assert.rejects(envs.acquire("u3", "default"), refusedWith("address-pool", "this node is full (2 environments); try again later or ask the admin"));
    assert.equal(runtime.calls.create, 2);
    assert.equal(events.at(-1)?.kind, "refused");
    assert.deepEqual(envs.addressPool(), { used: 2, free: 0 });
    // A second project of a user who has a network needs no new block.
    await envs.acquire("u1", "web");
  });

  it("after a restart, learns the blocks its networks and other programs' networks hold before it hands one out", async () => {
    class Counting extends FakeRuntime {
      ensures = 0;
      override async ensureNetwork(spec: Parameters<FakeRuntime["ensureNetwork"]>[0]): Promise<boolean> {
        this.ensures++;
        return super.ensureNetwork(spec);
      }
    }
    const runtime = new Counting(new Map([[IMAGE, image()]]));
    const c = config({ network: { pool: cidr("10.99.0.0/26"), subnetPrefix: 28, blockPrivateRanges: false } });
    await harness(c, runtime).envs.acquire("u1", "default");
    runtime.addForeignNetwork("other-program", cidr("10.99.0.16/28"));
    const restarted = harness(c, runtime).envs;
    assert.equal(await restarted.recover(), 1);
    const before = runtime.ensures;
    await restarted.acquire("u2", "default");
    assert.equal(runtime.ensures - before, 1, "the first block it tried was free: nothing had to be refused by the engine");
    const subnets = [...runtime.networks.values()].map((n) => n.subnet);
    for (let i = 0; i < subnets.length; i++) for (let j = i + 1; j < subnets.length; j++) assert.ok(!overlaps(subnets[i] as Cidr, subnets[j] as Cidr), `${formatCidr(subnets[i] as Cidr)} / ${formatCidr(subnets[j] as Cidr)}`);
    assert.equal(formatCidr(runtime.networks.get("pst.u2")?.subnet ?? cidr("0.0.0.0/32")), "10.99.0.32/28");
  });

  it("counts environments recovered after a restart toward max_environments", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const c = config({ limits: { maxEnvironments: 1 } });
    await harness(c, runtime).envs.acquire("u1", "default");
    const restarted = harness(c, runtime).envs;
    await restarted.recover();
    await assert.rejects(restarted.acquire("u2", "default"), LimitRefusal);
  });
});

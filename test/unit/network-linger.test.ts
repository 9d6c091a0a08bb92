import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { KeyedLock } from "../../agent/src/support/keyed-lock.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { NetworkLinger } from "../../agent/src/daemon/environments/network-linger.js";
import { SubnetTable } from "../../agent/src/daemon/environments/subnet-table.js";
import { LimitRefusal } from "../../agent/src/core/container/admission.js";
import { formatCidr, readCidr, type Cidr } from "../../agent/src/core/net/cidr.js";
import { SubnetTaken } from "../../agent/src/core/ports/container-runtime.js";
import type { NetworkSpec } from "../../agent/src/core/container/container-spec.js";
import { UserFacingError } from "../../agent/src/core/errors.js";

const LINGER = 10_000;

async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

function cidr(text: string): Cidr {
  const r = readCidr(text);
  if (!r.ok) throw new Error(r.problem);
  return r.value;
}

/** Four /28 networks in this pool. */
const SMALL_POOL = { pool: cidr("10.99.0.0/26"), subnetPrefix: 28 };

interface Setup {
  readonly runtime: FakeRuntime;
  readonly nets: NetworkLinger;
  readonly subnets: SubnetTable;
  readonly inUse: Set<string>;
  readonly events: DaemonEvent[];
  readonly lock: KeyedLock;
  advance(ms: number): Promise<void>;
}

function setup(t: TestContext, lingerMs = LINGER, pool = SMALL_POOL, runtime = new FakeRuntime()): Setup {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const inUse = new Set<string>();
  const events: DaemonEvent[] = [];
  const lock = new KeyedLock();
  const subnets = new SubnetTable("pst", () => pool);
  const nets = new NetworkLinger({ instance: "pst", runtime, lock, lingerMs: () => lingerMs, inUse: (u) => inUse.has(u), log: (e) => events.push(e), subnets, environments: () => 7 });
  const advance = async (ms: number): Promise<void> => {
    t.mock.timers.tick(ms);
    await settle();
  };
  return { runtime, nets, subnets, inUse, events, lock, advance };
}

describe("NetworkLinger", () => {
  it("names each user's network after the instance and the user", (t) => {
    const { nets } = setup(t);
    assert.equal(nets.nameOf("alice"), "pst.alice");
  });

  it("creates a user's network once, labelled for the instance and the user, however often it is ensured", async (t) => {
    const { runtime, nets, events } = setup(t);
    await nets.ensure("alice");
    await nets.ensure("alice");
    assert.equal(runtime.calls.createNetwork, 1);
    assert.deepEqual(runtime.networks.get("pst.alice")?.labels, { "podspawn.managed": "true", "podspawn.instance": "pst", "podspawn.user": "alice" });
    assert.deepEqual(events, [{ kind: "network-created", network: "pst.alice", subnet: "10.99.0.0/28" }]);
  });

  it("removes the network network_linger after release, not before", async (t) => {
    const { runtime, nets, events, advance } = setup(t);
    await nets.ensure("alice");
    nets.release("alice");
    await advance(LINGER - 1);
    assert.ok(runtime.networks.has("pst.alice"));
    await advance(1);
    assert.equal(runtime.networks.has("pst.alice"), false);
    assert.deepEqual(events.at(-1), { kind: "network-removed", network: "pst.alice", reason: "lingered" });
  });

  it("keeps a lingering network that is ensured again before the linger is over", async (t) => {
    const { runtime, nets, advance } = setup(t);
    await nets.ensure("alice");
    nets.release("alice");
    await advance(LINGER / 2);
    await nets.ensure("alice");
    await advance(LINGER * 2);
    assert.ok(runtime.networks.has("pst.alice"));
    assert.equal(runtime.calls.createNetwork, 1);
  });

  it("keeps the network of a user who has an environment again when the linger fires", async (t) => {
    const { runtime, nets, inUse, advance } = setup(t);
    await nets.ensure("alice");
    nets.release("alice");
    inUse.add("alice");
    await advance(LINGER);
    assert.ok(runtime.networks.has("pst.alice"));
  });

  it("waits for the user's lock before removing, so it never races a create", async (t) => {
    const { runtime, nets, lock, advance } = setup(t);
    await nets.ensure("alice");
    nets.release("alice");
    let open!: () => void;
    const held = lock.run("alice", () => new Promise<void>((r) => (open = r)));
    await advance(LINGER);
    assert.ok(runtime.networks.has("pst.alice"), "removal waits while the lock is held");
    open();
    await held;
    await settle();
    assert.equal(runtime.networks.has("pst.alice"), false);
  });

  it("removes at once (after the lock) with a linger of 0", async (t) => {
    const { runtime, nets } = setup(t, 0);
    await nets.ensure("alice");
    nets.release("alice");
    await settle();
    assert.equal(runtime.networks.has("pst.alice"), false);
  });

  it("removeNow removes the network and cancels a pending linger", async (t) => {
    const { runtime, nets, events, advance } = setup(t);
    await nets.ensure("alice");
    nets.release("alice");
    await nets.removeNow("alice");
    assert.equal(runtime.networks.has("pst.alice"), false);
    await nets.ensure("alice");
    await advance(LINGER * 2);
    assert.ok(runtime.networks.has("pst.alice"), "the cancelled linger timer does not remove the new network");
    assert.equal(events.filter((e) => e.kind === "network-removed").length, 0);
  });

  it("logs a failed removal as an error instead of throwing", async (t) => {
    const { runtime, nets, events, advance } = setup(t);
    await nets.ensure("alice");
    nets.release("alice");
    runtime.down = true;
    await advance(LINGER);
    assert.equal(events.at(-1)?.kind, "error");
    assert.match(JSON.stringify(events.at(-1)), /removing network pst\.alice failed/);
  });
});

describe("NetworkLinger subnets", () => {
  const subnetOf = (runtime: FakeRuntime, user: string): string => {
    const n = runtime.networks.get(`pst.${user}`);
    return n ? formatCidr(n.subnet) : "none";
  };

  it("gives each user's network the next free block of the pool, in order", async (t) => {
    const { runtime, nets } = setup(t);
    for (const u of ["a", "b", "c"]) await nets.ensure(u);
    assert.deepEqual(["a", "b", "c"].map((u) => subnetOf(runtime, u)), ["10.99.0.0/28", "10.99.0.16/28", "10.99.0.32/28"]);
  });

  it("never overlaps a network another program has on the engine, learned before the first create", async (t) => {
    const runtime = new FakeRuntime();
    runtime.addForeignNetwork("someone-elses", cidr("10.99.0.0/27"));
    const { nets } = setup(t, LINGER, SMALL_POOL, runtime);
    await nets.ensure("a");
    assert.equal(subnetOf(runtime, "a"), "10.99.0.32/28");
  });

  it("looks again and takes another block when the engine says the block was taken since it last looked", async (t) => {
    const runtime = new FakeRuntime();
    const { nets, events } = setup(t, LINGER, SMALL_POOL, runtime);
    await nets.ensure("a");
    runtime.addForeignNetwork("appeared-later", cidr("10.99.0.16/28"));
    await nets.ensure("b");
    assert.equal(subnetOf(runtime, "b"), "10.99.0.32/28");
    assert.equal(events.filter((e) => e.kind === "network-created").length, 2);
  });

  it("gives up after a few attempts when the engine keeps refusing blocks, with the engine's refusal", async (t) => {
    class AlwaysTaken extends FakeRuntime {
      attempts = 0;
      override async ensureNetwork(): Promise<boolean> {
        this.attempts++;
        throw new SubnetTaken("Pool overlaps with other one on this address space");
      }
    }
    const runtime = new AlwaysTaken();
    const { nets } = setup(t, LINGER, SMALL_POOL, runtime);
    await assert.rejects(nets.ensure("a"), SubnetTaken);
    assert.equal(runtime.attempts, 3);
  });

  it("refuses with the node-full line when every block is held by a network in use, creating nothing", async (t) => {
    const { runtime, nets, inUse } = setup(t);
    for (const u of ["a", "b", "c", "d"]) {
      await nets.ensure(u);
      inUse.add(u);
    }
    await assert.rejects(nets.ensure("e"), (err: unknown) => {
      assert.ok(err instanceof LimitRefusal);
      assert.equal(err.limit, "address-pool");
      assert.equal(err.message, "this node is full (7 environments); try again later or ask the admin");
      return true;
    });
    assert.equal(runtime.networks.has("pst.e"), false);
    assert.equal(runtime.calls.createNetwork, 4);
  });

  it("takes the block of the network that has lingered longest when the pool is exhausted", async (t) => {
    const { runtime, nets, inUse, events } = setup(t);
    for (const u of ["a", "b", "c", "d"]) await nets.ensure(u);
    inUse.add("a");
    inUse.add("d");
    nets.release("c");
    nets.release("b");
    await nets.ensure("e");
    assert.equal(runtime.networks.has("pst.c"), false, "c lingered longest");
    assert.ok(runtime.networks.has("pst.b"));
    assert.equal(subnetOf(runtime, "e"), "10.99.0.32/28", "c's block");
    assert.deepEqual(events.find((e) => e.kind === "network-removed"), { kind: "network-removed", network: "pst.c", reason: "reclaimed" });
  });

  it("leaves a lingering network outside the current pool alone: removing it would free nothing", async (t) => {
    let pool = { pool: cidr("10.98.0.0/28"), subnetPrefix: 28 };
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const runtime = new FakeRuntime();
    const subnets = new SubnetTable("pst", () => pool);
    const nets = new NetworkLinger({ instance: "pst", runtime, lock: new KeyedLock(), lingerMs: () => LINGER, inUse: () => false, log: () => undefined, subnets, environments: () => 1 });
    await nets.ensure("old");
    nets.release("old");
    pool = { pool: cidr("10.99.0.0/28"), subnetPrefix: 28 };
    await nets.ensure("a");
    await assert.rejects(nets.ensure("b"), LimitRefusal);
    assert.ok(runtime.networks.has("pst.old"), "the old pool's lingering network stays");
  });

  it("gives a removed network's block to the next user", async (t) => {
    const { runtime, nets } = setup(t, 0);
    for (const u of ["a", "b"]) await nets.ensure(u);
    nets.release("a");
    await settle();
    await nets.ensure("c");
    assert.equal(subnetOf(runtime, "c"), "10.99.0.0/28");
  });

  it("keeps the block of a network that exists when a later ensure of it fails, and frees a fresh one", async (t) => {
    const runtime = new FakeRuntime();
    const { nets, subnets } = setup(t, LINGER, SMALL_POOL, runtime);
    await nets.ensure("a");
    runtime.down = true;
    await assert.rejects(nets.ensure("a"));
    await assert.rejects(nets.ensure("b"));
    assert.deepEqual(subnets.usage(), { used: 1, free: 3 }, "a keeps its block; b's reservation went back");
    assert.equal(formatCidr(subnets.reserve("pst.c") ?? cidr("0.0.0.0/32")), "10.99.0.16/28");
  });

  it("sends the engine at most two network creates at a time, however many users arrive at once", async (t) => {
    class Slow extends FakeRuntime {
      now = 0;
      most = 0;
      readonly gates: (() => void)[] = [];
      override async ensureNetwork(spec: NetworkSpec): Promise<boolean> {
        this.most = Math.max(this.most, ++this.now);
        await new Promise<void>((r) => this.gates.push(r));
        this.now--;
        return super.ensureNetwork(spec);
      }
    }
    const runtime = new Slow();
    const { nets } = setup(t, LINGER, { pool: cidr("10.99.0.0/24"), subnetPrefix: 28 }, runtime);
    const all = ["a", "b", "c", "d", "e", "f"].map((u) => nets.ensure(u));
    while (runtime.calls.createNetwork < 6) {
      await settle();
      runtime.gates.shift()?.();
    }
    await Promise.all(all);
    assert.equal(runtime.most, 2);
  });

  it("keeps the block reserved for a network whose create got no answer in time: the engine may still make it", async (t) => {
    class Hung extends FakeRuntime {
      override async ensureNetwork(): Promise<boolean> {
        throw new UserFacingError("engine-timeout", "the container engine on this node did not answer within 30 s");
      }
    }
    const { nets, subnets } = setup(t, LINGER, SMALL_POOL, new Hung());
    await assert.rejects(nets.ensure("a"), /did not answer/);
    assert.equal(formatCidr(subnets.reserve("pst.b") ?? cidr("0.0.0.0/32")), "10.99.0.16/28", "a's block is not handed to b");
    assert.equal(formatCidr(subnets.reserve("pst.a") ?? cidr("0.0.0.0/32")), "10.99.0.0/28", "a gets its block again");
  });
});

import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { KeyedLock } from "../../agent/src/support/keyed-lock.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { NetworkLinger } from "../../agent/src/daemon/environments/network-linger.js";

const LINGER = 10_000;

async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

function setup(t: TestContext, lingerMs = LINGER): { runtime: FakeRuntime; nets: NetworkLinger; inUse: Set<string>; events: DaemonEvent[]; lock: KeyedLock; advance: (ms: number) => Promise<void> } {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const runtime = new FakeRuntime();
  const inUse = new Set<string>();
  const events: DaemonEvent[] = [];
  const lock = new KeyedLock();
  const nets = new NetworkLinger({ instance: "pst", runtime, lock, lingerMs: () => lingerMs, inUse: (u) => inUse.has(u), log: (e) => events.push(e) });
  const advance = async (ms: number): Promise<void> => {
    t.mock.timers.tick(ms);
    await settle();
  };
  return { runtime, nets, inUse, events, lock, advance };
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
    assert.deepEqual(events, [{ kind: "network-created", network: "pst.alice" }]);
  });

  it("removes the network network_linger after release, not before", async (t) => {
    const { runtime, nets, events, advance } = setup(t);
    await nets.ensure("alice");
    nets.release("alice");
    await advance(LINGER - 1);
    assert.ok(runtime.networks.has("pst.alice"));
    await advance(1);
    assert.equal(runtime.networks.has("pst.alice"), false);
    assert.deepEqual(events.at(-1), { kind: "network-removed", network: "pst.alice" });
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

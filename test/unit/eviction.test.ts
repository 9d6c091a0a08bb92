import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { containerSpec } from "../../agent/src/core/container/container-spec.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import { KeyedLock } from "../../agent/src/support/keyed-lock.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { evictUnregistered, evictUser, type EvictionDeps } from "../../agent/src/daemon/environments/eviction.js";
import { NetworkLinger } from "../../agent/src/daemon/environments/network-linger.js";
import { SubnetTable } from "../../agent/src/daemon/environments/subnet-table.js";

const IMAGE = "podspawn/test:fake";
const PERSISTENT = { ...DEFAULT_NODE_CONFIG, image: IMAGE, session: { ...DEFAULT_NODE_CONFIG.session, mode: "persistent" as const } };

interface Env {
  readonly user: string;
  readonly id: string;
}

function setup(): { runtime: FakeRuntime; deps: EvictionDeps<Env>; table: Env[]; destroyed: string[]; events: DaemonEvent[] } {
  const runtime = new FakeRuntime(new Map([[IMAGE, new Map([["/etc/passwd", Buffer.from("root:x:0:0::/:/bin/sh\n")]])]]));
  const lock = new KeyedLock();
  const events: DaemonEvent[] = [];
  const table: Env[] = [];
  const destroyed: string[] = [];
  const subnets = new SubnetTable("pst", () => DEFAULT_NODE_CONFIG.network);
  const networks = new NetworkLinger({ instance: "pst", runtime, lock, lingerMs: () => 0, inUse: () => false, log: () => undefined, subnets, environments: () => table.length });
  const deps: EvictionDeps<Env> = {
    instance: "pst",
    runtime,
    lock,
    networks,
    log: (e) => events.push(e),
    environments: () => [...table],
    destroy: async (env, reason) => {
      destroyed.push(`${env.user} ${reason}`);
      table.splice(table.indexOf(env), 1);
      await runtime.remove(env.id);
    },
    servicesDown: async () => 0,
    leftoverServices: async () => undefined,
  };
  return { runtime, deps, table, destroyed, events };
}

/** A container (and its home volume) as the daemon would have made it for (user, project). */
async function make(runtime: FakeRuntime, user: string, project: string, instance = "pst"): Promise<string> {
  const spec = containerSpec(instance, user, project, PERSISTENT);
  await runtime.ensureNetwork({ name: spec.network, labels: { "podspawn.instance": instance }, subnet: null });
  return runtime.create(spec);
}

describe("evictUser", () => {
  it("destroys the user's environments, removes containers the table does not know, their volumes and network", async () => {
    const { runtime, deps, table, destroyed, events } = setup();
    table.push({ user: "alice", id: await make(runtime, "alice", "web") });
    const stray = await make(runtime, "alice", "old");
    assert.equal(await evictUser(deps, "alice"), 2);
    assert.deepEqual(destroyed, ["alice evicted"]);
    assert.equal(runtime.containers.has(stray), false);
    assert.deepEqual(await runtime.listVolumes("pst"), []);
    assert.equal(runtime.networks.has("pst.alice"), false);
    assert.deepEqual(events.filter((e) => e.kind === "volume-removed").map((e) => (e.kind === "volume-removed" ? e.volume : "")).sort(), ["pst.alice.old.home", "pst.alice.web.home"]);
  });

  it("leaves other users alone, even one whose name starts with this user's", async () => {
    const { runtime, deps, table } = setup();
    table.push({ user: "alice2", id: await make(runtime, "alice2", "default") });
    const bob = await make(runtime, "bob", "default");
    await make(runtime, "alice", "default");
    await evictUser(deps, "alice");
    assert.deepEqual(table.map((e) => e.user), ["alice2"]);
    assert.ok(runtime.containers.has(bob));
    assert.deepEqual((await runtime.listVolumes("pst")).sort(), ["pst.alice2.default.home", "pst.bob.default.home"]);
    assert.ok(runtime.networks.has("pst.alice2"));
    assert.ok(runtime.networks.has("pst.bob"));
  });

  it("does not touch another instance's containers of a user of the same name", async () => {
    const { runtime, deps } = setup();
    const theirs = await make(runtime, "alice", "default", "other");
    await evictUser(deps, "alice");
    assert.ok(runtime.containers.has(theirs));
  });
});

describe("evictUnregistered", () => {
  it("evicts the users found in the table, in containers or only in volumes who are not registered, sorted", async () => {
    const { runtime, deps, table } = setup();
    table.push({ user: "zoe", id: await make(runtime, "zoe", "default") });
    await make(runtime, "bob", "default");
    runtime.volumes.set("pst.carol.default.home", { labels: { "podspawn.instance": "pst" }, files: new Map() });
    await make(runtime, "alice", "default");
    assert.deepEqual(await evictUnregistered(deps, new Set(["alice"])), ["bob", "carol", "zoe"]);
    assert.deepEqual((await runtime.listManaged("pst")).map((c) => c.user), ["alice"]);
    assert.deepEqual(await runtime.listVolumes("pst"), ["pst.alice.default.home"]);
  });

  it("evicts nobody when everyone is registered", async () => {
    const { runtime, deps } = setup();
    await make(runtime, "alice", "default");
    assert.deepEqual(await evictUnregistered(deps, new Set(["alice"])), []);
    assert.equal(runtime.containers.size, 1);
  });
});

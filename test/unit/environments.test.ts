import { testPodIds } from "./helpers/pod-ids.js";
import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import type { ContainerRuntime } from "../../agent/src/core/ports/container-runtime.js";
import { containerName, containerSpec, networkName, type ContainerSpec } from "../../agent/src/core/container/container-spec.js";
import { UserFacingError } from "../../agent/src/core/errors.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { READY_MARKER_PATH } from "../../agent/src/core/container/ready-marker.js";
import type { TarEntry } from "../../agent/src/support/tar.js";
import { AccountProvisioner } from "../../agent/src/daemon/environments/account-provisioner.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { minimalImage } from "./helpers/fake-image.js";

const IMAGE = "podspawn/test:fake";
const INSTANCE = "pst";
const GRACE = 60_000;

const image = (): Map<string, Buffer> => minimalImage();

interface ConfigOverrides {
  readonly session?: Partial<NodeConfig["session"]>;
  readonly resources?: Partial<NodeConfig["resources"]>;
  readonly networkLingerMs?: number;
}

function makeConfig(over: ConfigOverrides = {}): NodeConfig {
  return {
    ...DEFAULT_NODE_CONFIG,
    // The normal path: the pool has its own tests (pool.test.ts, and the claim cases there).
    pool: { ...DEFAULT_NODE_CONFIG.pool, size: 0, projectSize: 0 },
    image: IMAGE,
    // No lifetime or idle timeout unless a test sets one (the shared-node defaults are 24 h and 1 h).
    session: { ...DEFAULT_NODE_CONFIG.session, gracePeriodMs: GRACE, maxLifetimeMs: 0, idleTimeoutMs: 0, ...over.session },
    resources: { ...DEFAULT_NODE_CONFIG.resources, ...over.resources },
    // Most tests look at the network going with the last container; linger has its own tests.
    networkLingerMs: over.networkLingerMs ?? 0,
  };
}

interface Harness {
  readonly runtime: FakeRuntime;
  readonly envs: Environments;
  readonly events: DaemonEvent[];
  /** Swap the config the daemon reads on its next decision (what a reload does). */
  setConfig(over: ConfigOverrides): void;
}

function harness(over: ConfigOverrides = {}, runtime: FakeRuntime = new FakeRuntime(new Map([[IMAGE, image()]])), engine: ContainerRuntime = runtime): Harness {
  let config = makeConfig(over);
  const events: DaemonEvent[] = [];
  const envs = new Environments({ instance: INSTANCE, runtime: engine, podIdOf: testPodIds(), config: () => config, log: (e) => events.push(e) });
  return {
    runtime,
    envs,
    events,
    setConfig: (o) => {
      config = makeConfig(o);
    },
  };
}

/** Let the fake engine's round trips (setImmediate) and queued callbacks run. */
async function settle(turns = 30): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/** Timers and the clock move only when the test says so (max_lifetime reads both). */
function mockTimers(t: TestContext): (ms: number) => Promise<void> {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  return async (ms) => {
    t.mock.timers.tick(ms);
    await settle();
  };
}

function nameOf(user: string, project = "default"): string {
  return containerName(INSTANCE, user, project);
}

function containerOf(runtime: FakeRuntime, user: string, project = "default"): { id: string; running: boolean; files: Map<string, Buffer>; spec: ContainerSpec } | undefined {
  return [...runtime.containers.values()].find((c) => c.spec.name === nameOf(user, project));
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

describe("Environments.acquire", () => {
  it("creates exactly one container and one network for ten concurrent first logins of one user", async () => {
    const { runtime, envs } = harness();
    const got = await Promise.all(Array.from({ length: 10 }, () => envs.acquire("alice", "default")));
    assert.equal(runtime.calls.create, 1);
    assert.equal(runtime.calls.createNetwork, 1);
    assert.equal(runtime.containers.size, 1);
    const ids = new Set(got.map((e) => e.containerId));
    assert.equal(ids.size, 1);
    assert.equal(containerOf(runtime, "alice")?.id, got[0]?.containerId);
    assert.equal(envs.list().length, 1);
    assert.equal(envs.list()[0]?.sessions, 10);
  });

  it("creates one container per (user, project) and one network per user under any interleaving of engine calls", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.tuple(fc.constantFrom("alice", "bob"), fc.constantFrom("default", "web")), { minLength: 1, maxLength: 8 }),
        async (s, logins) => {
          const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
          // Every engine call waits for the scheduler, so fast-check picks the interleaving.
          const engine = new Proxy(runtime, {
            get(target, prop, receiver) {
              const value: unknown = Reflect.get(target, prop, receiver);
              if (typeof value !== "function") return value;
              return (...args: unknown[]) => s.schedule(Promise.resolve(), String(prop)).then(() => (value as (...a: unknown[]) => unknown).apply(target, args));
            },
          });
          const { envs } = harness({}, runtime, engine);
          await s.waitFor(Promise.all(logins.map(([u, p]) => envs.acquire(u, p))));
          const pairs = new Set(logins.map(([u, p]) => `${u}/${p}`));
          const users = new Set(logins.map(([u]) => u));
          assert.equal(runtime.calls.create, pairs.size);
          assert.equal(runtime.calls.createNetwork, users.size);
          assert.deepEqual([...runtime.networks.keys()].sort(), [...users].map((u) => networkName(INSTANCE, u)).sort());
          for (const env of envs.list()) {
            assert.equal(env.sessions, logins.filter(([u, p]) => `${u}/${p}` === env.key).length);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it("does not make one user's first login wait for another user's", async () => {
    const gate = deferred();
    class SlowForAlice extends FakeRuntime {
      override async create(spec: ContainerSpec): Promise<string> {
        if (spec.labels["podspawn.user"] === "alice") await gate.promise;
        return super.create(spec);
      }
    }
    const { runtime, envs } = harness({}, new SlowForAlice(new Map([[IMAGE, image()]])));
    let aliceDone = false;
    const alice = envs.acquire("alice", "default").then((e) => {
      aliceDone = true;
      return e;
    });
    let bobDone = false;
    const bobLogin = envs.acquire("bob", "default").then((e) => {
      bobDone = true;
      return e;
    });
    // Event-loop turns, not wall-clock time: far more than bob's engine round trips need.
    await settle(100);
    assert.equal(bobDone, true, "bob's login waited for alice's");
    assert.equal(aliceDone, false, "alice's create is still held, yet bob got his container");
    const bob = await bobLogin;
    assert.equal(containerOf(runtime, "bob")?.id, bob.containerId);
    gate.resolve();
    const a = await alice;
    assert.equal(containerOf(runtime, "alice")?.id, a.containerId);
    assert.equal(runtime.calls.create, 2);
    assert.equal(runtime.calls.createNetwork, 2);
  });

  it("writes the user's passwd and group entries and home directory into a new container", async () => {
    const { runtime, envs } = harness();
    const env = await envs.acquire("alice", "default");
    const c = containerOf(runtime, "alice");
    assert.ok(c);
    assert.equal(c.running, true);
    const passwd = c.files.get("/etc/passwd")?.toString("utf8") ?? "";
    const group = c.files.get("/etc/group")?.toString("utf8") ?? "";
    assert.ok(passwd.startsWith("root:x:0:0:root:/root:/bin/sh\n"), "the image's entries are kept");
    assert.match(passwd, /^alice:x:101001:101001:[^:]*:\/home\/alice:\/bin\/bash$/m);
    assert.match(group, /^alice:x:101001:$/m);
    assert.ok(c.files.has("/home/alice/"), "home directory exists");
    assert.deepEqual(env.account, { name: "alice", uid: 101001, gid: 101001, home: "/home/alice", shell: "/bin/bash" });
  });

  it("starts a stopped container again on the next acquire instead of creating another", async () => {
    const { runtime, envs } = harness();
    const first = await envs.acquire("alice", "default");
    const firstId = first.containerId;
    envs.release(first);
    runtime.stop(firstId);
    assert.equal(containerOf(runtime, "alice")?.running, false);
    const again = await envs.acquire("alice", "default");
    assert.equal(again.containerId, firstId);
    assert.equal(containerOf(runtime, "alice")?.running, true);
    assert.equal(runtime.calls.create, 1);
    assert.equal(runtime.calls.start, 2);
  });

  it("recreates, with the account, a container that was removed behind the daemon's back", async () => {
    const { runtime, envs } = harness();
    const first = await envs.acquire("alice", "default");
    const firstId = first.containerId;
    envs.release(first);
    runtime.containers.delete(firstId); // docker rm -f by someone else
    const again = await envs.acquire("alice", "default");
    assert.notEqual(again.containerId, firstId);
    const c = containerOf(runtime, "alice");
    assert.equal(c?.id, again.containerId);
    assert.equal(c?.running, true);
    assert.match(c?.files.get("/etc/passwd")?.toString("utf8") ?? "", /^alice:x:101001:101001:/m);
    assert.ok(c?.files.has("/home/alice/"));
    assert.equal(again.sessions, 1);
    assert.equal(runtime.calls.create, 2);
  });

  it("recreates the user's network too when it was removed behind the daemon's back with the container", async () => {
    const { runtime, envs } = harness();
    const first = await envs.acquire("alice", "default");
    envs.release(first);
    runtime.containers.delete(first.containerId);
    runtime.networks.delete(networkName(INSTANCE, "alice")); // docker system prune
    const again = await envs.acquire("alice", "default");
    assert.equal(containerOf(runtime, "alice")?.id, again.containerId);
    // The container is attached to this network by name: a real engine refuses to create it without.
    assert.ok(runtime.networks.has(networkName(INSTANCE, "alice")), "network recreated before the container");
  });

  it("refuses a container whose labels name another user and never attaches to it", async () => {
    const { runtime, envs } = harness();
    // Bob's container carrying the name of alice's.
    const impostor = { ...containerSpec(INSTANCE, "bob", "default", makeConfig()), name: nameOf("alice") };
    const id = await runtime.create(impostor);
    await runtime.start(id);
    const before = runtime.containers.get(id)?.files.get("/etc/passwd")?.toString("utf8");
    await assert.rejects(envs.acquire("alice", "default"), /labelled for bob\/default/);
    assert.deepEqual(envs.list(), []);
    assert.ok(runtime.containers.has(id), "someone else's container is left alone");
    assert.equal(runtime.containers.get(id)?.files.get("/etc/passwd")?.toString("utf8"), before, "nothing written into it");
    assert.equal(runtime.calls.create, 1);
  });

  it("refuses a container swapped in for another user's while the environment is known, giving the session back", async () => {
    const { runtime, envs } = harness();
    const env = await envs.acquire("alice", "default");
    envs.release(env);
    runtime.containers.delete(env.containerId);
    const impostor = { ...containerSpec(INSTANCE, "bob", "default", makeConfig()), name: nameOf("alice") };
    const id = await runtime.create(impostor);
    await assert.rejects(envs.acquire("alice", "default"), /labelled for bob\/default/);
    assert.equal(env.sessions, 0);
    assert.notEqual(env.containerId, id);
    assert.equal(runtime.containers.get(id)?.running, false, "never started");
  });

  it("rejects with docker-down when the engine does not answer and counts no session", async () => {
    const { runtime, envs } = harness();
    runtime.down = true;
    await assert.rejects(envs.acquire("alice", "default"), (err: unknown) => err instanceof UserFacingError && err.code === "docker-down");
    assert.deepEqual(envs.list(), []);
    runtime.down = false;
    const env = await envs.acquire("alice", "default");
    assert.equal(env.sessions, 1);
  });

  it("gives the session back when the engine is down for an environment it already knows", async () => {
    const { runtime, envs } = harness();
    const env = await envs.acquire("alice", "default");
    envs.release(env);
    runtime.down = true;
    await assert.rejects(envs.acquire("alice", "default"), (err: unknown) => err instanceof UserFacingError && err.code === "docker-down");
    assert.equal(env.sessions, 0);
    assert.deepEqual(envs.list().map((e) => e.sessions), [0]);
  });
});

describe("Environments removal", () => {
  it("removes the container and the network once the grace period after the last release has passed", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness();
    const a = await envs.acquire("alice", "default");
    await envs.acquire("alice", "default");
    envs.release(a);
    await advance(GRACE * 2);
    assert.ok(containerOf(runtime, "alice"), "a live session keeps the container");
    envs.release(a);
    assert.equal(a.sessions, 0);
    await advance(GRACE - 1);
    assert.ok(containerOf(runtime, "alice"), "still inside the grace period");
    assert.ok(runtime.networks.has(networkName(INSTANCE, "alice")));
    await advance(1);
    assert.equal(containerOf(runtime, "alice"), undefined);
    assert.equal(runtime.networks.has(networkName(INSTANCE, "alice")), false);
    assert.deepEqual(envs.list(), []);
  });

  it("keeps a user's network for network_linger after their last container, then removes it", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness({ networkLingerMs: 10 * GRACE });
    envs.release(await envs.acquire("alice", "default"));
    await advance(GRACE);
    assert.equal(containerOf(runtime, "alice"), undefined);
    assert.ok(runtime.networks.has(networkName(INSTANCE, "alice")), "network lingers");
    await advance(10 * GRACE);
    assert.equal(runtime.networks.has(networkName(INSTANCE, "alice")), false, "network removed after the linger");
  });

  it("reuses a lingering network for the next container instead of creating one", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness({ networkLingerMs: 10 * GRACE });
    envs.release(await envs.acquire("alice", "default"));
    await advance(GRACE);
    assert.equal(runtime.calls.createNetwork, 1);
    const again = await envs.acquire("alice", "default");
    assert.equal(runtime.calls.createNetwork, 1, "no second network");
    await advance(20 * GRACE);
    assert.ok(runtime.networks.has(networkName(INSTANCE, "alice")), "the network of a live container is never removed by an old linger timer");
    envs.release(again);
  });

  it("keeps a user's network until the last of their containers is removed", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness();
    const web = await envs.acquire("alice", "web");
    const api = await envs.acquire("alice", "api");
    assert.equal(runtime.calls.createNetwork, 1);
    envs.release(web);
    await advance(GRACE);
    assert.equal(containerOf(runtime, "alice", "web"), undefined);
    assert.ok(containerOf(runtime, "alice", "api"));
    assert.ok(runtime.networks.has(networkName(INSTANCE, "alice")), "api still uses the network");
    envs.release(api);
    await advance(GRACE);
    assert.equal(runtime.containers.size, 0);
    assert.equal(runtime.networks.size, 0);
  });

  it("cancels the pending removal when the user logs in again during the grace period", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness();
    const first = await envs.acquire("alice", "default");
    const firstId = first.containerId;
    envs.release(first);
    await advance(GRACE / 2);
    const again = await envs.acquire("alice", "default");
    assert.equal(again.containerId, firstId);
    await advance(GRACE * 2);
    assert.equal(containerOf(runtime, "alice")?.id, firstId);
    assert.equal(again.sessions, 1);
    assert.equal(runtime.calls.create, 1);
    assert.equal(runtime.calls.remove, 0);
  });

  it("removes right after the last release in destroy-on-disconnect mode", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness({ session: { mode: "destroy-on-disconnect" } });
    const env = await envs.acquire("alice", "default");
    await envs.acquire("alice", "default");
    envs.release(env);
    await advance(0);
    assert.ok(containerOf(runtime, "alice"), "one session is still connected");
    envs.release(env);
    await advance(0);
    assert.equal(containerOf(runtime, "alice"), undefined);
    assert.equal(runtime.networks.size, 0);
  });

  it("destroys the container at max_lifetime even while sessions are connected", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness({ session: { maxLifetimeMs: 5_000 } });
    const env = await envs.acquire("alice", "default");
    await advance(4_999);
    assert.ok(containerOf(runtime, "alice"));
    await advance(1);
    assert.equal(env.sessions, 1);
    assert.equal(containerOf(runtime, "alice"), undefined);
    assert.equal(runtime.networks.size, 0);
    assert.deepEqual(envs.list(), []);
    // The session that outlived its container ends later; that must not resurrect or break anything.
    envs.release(env);
    await advance(GRACE);
    assert.equal(runtime.containers.size, 0);
    const next = await envs.acquire("alice", "default");
    assert.notEqual(next.containerId, env.containerId);
  });

  it("evicts every environment of one user and leaves other users' alone", async () => {
    const { runtime, envs } = harness();
    await envs.acquire("alice", "web");
    await envs.acquire("alice", "api");
    const bob = await envs.acquire("bob", "default");
    assert.equal(await envs.evict("alice"), 2);
    assert.equal(containerOf(runtime, "alice", "web"), undefined);
    assert.equal(containerOf(runtime, "alice", "api"), undefined);
    assert.equal(runtime.networks.has(networkName(INSTANCE, "alice")), false);
    assert.equal(containerOf(runtime, "bob")?.id, bob.containerId);
    assert.ok(runtime.networks.has(networkName(INSTANCE, "bob")));
    assert.deepEqual(envs.list().map((e) => e.key), ["bob/default"]);
  });

  it("still removes a known idle container after an acquire failed while the engine was down", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness();
    const env = await envs.acquire("alice", "default");
    envs.release(env);
    runtime.down = true;
    await assert.rejects(envs.acquire("alice", "default"));
    runtime.down = false;
    await advance(GRACE * 2);
    assert.equal(containerOf(runtime, "alice"), undefined, "the failed acquire must not cancel the removal for good");
  });

  it("still removes a fresh container whose first start failed", async (t) => {
    const advance = mockTimers(t);
    class StartFails extends FakeRuntime {
      override async start(_id: string): Promise<void> {
        throw new UserFacingError("docker-down", "the environment could not be started");
      }
    }
    const { runtime, envs } = harness({}, new StartFails(new Map([[IMAGE, image()]])));
    await assert.rejects(envs.acquire("alice", "default"), /could not be started/);
    assert.equal(runtime.containers.size, 1);
    await advance(GRACE * 2);
    assert.equal(runtime.containers.size, 0, "a container nobody can use must not stay forever");
  });
});

describe("Environments.recover", () => {
  it("adopts the labelled containers of its own instance only and schedules their removal", async (t) => {
    const advance = mockTimers(t);
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const before = harness({}, runtime);
    const mine = await before.envs.acquire("alice", "default");
    const other = await runtime.create(containerSpec("otherinst", "alice", "default", makeConfig()));
    const unmanaged = await runtime.create({ ...containerSpec(INSTANCE, "carol", "default", makeConfig()), name: "somebody-else", labels: { app: "x" } });
    // The daemon restarts: a new table, the same engine.
    const { envs } = harness({}, runtime);
    assert.equal(await envs.recover(), 1);
    const list = envs.list();
    assert.deepEqual(
      list.map((e) => [e.key, e.containerId, e.sessions]),
      [["alice/default", mine.containerId, 0]],
    );
    await advance(GRACE);
    assert.equal(runtime.containers.has(mine.containerId), false, "nobody is connected after a restart");
    assert.ok(runtime.containers.has(other), "another instance's container is not ours");
    assert.ok(runtime.containers.has(unmanaged));
    assert.deepEqual(envs.list(), []);
  });

  it("reattaches a login during the recovered grace period to the adopted container with its account", async (t) => {
    const advance = mockTimers(t);
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const mine = await harness({}, runtime).envs.acquire("alice", "default");
    const { envs } = harness({}, runtime);
    await envs.recover();
    const env = await envs.acquire("alice", "default");
    assert.equal(env.containerId, mine.containerId);
    assert.deepEqual(env.account, mine.account);
    await advance(GRACE * 2);
    assert.ok(runtime.containers.has(mine.containerId));
    assert.equal(runtime.calls.create, 1);
  });

  it("still enforces max_lifetime on a container adopted after a restart", async (t) => {
    const advance = mockTimers(t);
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const over = { session: { maxLifetimeMs: 5_000 } };
    // Created by the daemon before its restart (no lifetime timer of its own left to fire here).
    const mine = await harness({}, runtime).envs.acquire("alice", "default");
    const { envs } = harness(over, runtime);
    await envs.recover();
    await envs.acquire("alice", "default");
    await advance(5_000);
    assert.equal(runtime.containers.has(mine.containerId), false, "a restart must not lift the lifetime cap");
  });
});

describe("Environments after a config change", () => {
  it("recreates a container found by name whose spec hash no longer matches the config", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const old = await harness({}, runtime).envs.acquire("alice", "default");
    // A new daemon (no recover) with more memory configured.
    const { envs } = harness({ resources: { memoryBytes: 4 * 1024 ** 3 } }, runtime);
    const env = await envs.acquire("alice", "default");
    assert.notEqual(env.containerId, old.containerId);
    assert.equal(runtime.containers.has(old.containerId), false);
    assert.equal(containerOf(runtime, "alice")?.spec.memoryBytes, 4 * 1024 ** 3);
  });

  it("recreates an idle container in its grace period on the next first login after a reload", async () => {
    const { runtime, envs, setConfig } = harness();
    const old = await envs.acquire("alice", "default");
    const oldId = old.containerId;
    envs.release(old);
    setConfig({ resources: { memoryBytes: 4 * 1024 ** 3 } });
    const env = await envs.acquire("alice", "default");
    assert.notEqual(env.containerId, oldId, "nobody was connected: do not keep the stale limits");
    assert.equal(containerOf(runtime, "alice")?.spec.memoryBytes, 4 * 1024 ** 3);
    assert.equal(runtime.containers.size, 1);
  });

  it("recreates a recovered idle container on the first login when the config changed across the restart", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const old = await harness({}, runtime).envs.acquire("alice", "default");
    const { envs } = harness({ resources: { memoryBytes: 4 * 1024 ** 3 } }, runtime);
    await envs.recover();
    const env = await envs.acquire("alice", "default");
    assert.notEqual(env.containerId, old.containerId);
    assert.equal(containerOf(runtime, "alice")?.spec.memoryBytes, 4 * 1024 ** 3);
  });

  it("keeps using a container with live sessions after a config change", async () => {
    const { runtime, envs, setConfig } = harness();
    const first = await envs.acquire("alice", "default");
    const firstId = first.containerId;
    setConfig({ resources: { memoryBytes: 4 * 1024 ** 3 } });
    const second = await envs.acquire("alice", "default");
    assert.equal(second.containerId, firstId);
    assert.equal(second.sessions, 2);
    assert.equal(runtime.calls.create, 1);
    assert.equal(runtime.calls.remove, 0);
  });
});

describe("Environments.evictUnregistered", () => {
  it("removes containers and home volumes of users no longer registered, and only theirs", async () => {
    const { runtime, envs } = harness({ session: { mode: "persistent" } });
    envs.release(await envs.acquire("alice", "default"));
    envs.release(await envs.acquire("bob", "web"));
    assert.equal((await runtime.listVolumes(INSTANCE)).length, 2);
    const gone = await envs.evictUnregistered(new Set(["alice"]));
    assert.deepEqual(gone, ["bob"]);
    assert.ok(containerOf(runtime, "alice"), "a registered user's container stays");
    assert.equal(containerOf(runtime, "bob", "web"), undefined);
    assert.deepEqual(await runtime.listVolumes(INSTANCE), [`${INSTANCE}.alice.default.home`]);
  });

  it("also finds a leftover home volume with no container (user removed while the daemon was down)", async () => {
    const { runtime, envs } = harness({ session: { mode: "persistent" } });
    envs.release(await envs.acquire("carol", "default"));
    await envs.evict("carol");
    runtime.volumes.set(`${INSTANCE}.carol.default.home`, { labels: { "podspawn.instance": INSTANCE }, files: new Map() });
    assert.deepEqual(await envs.evictUnregistered(new Set()), ["carol"]);
    assert.deepEqual(await runtime.listVolumes(INSTANCE), []);
  });
});

/** The fake engine, recording the order of the calls that shape a container. */
class CallLog extends FakeRuntime {
  readonly order: string[] = [];
  override async inspectByName(name: string): ReturnType<FakeRuntime["inspectByName"]> {
    this.order.push("inspect");
    return super.inspectByName(name);
  }
  override async create(spec: ContainerSpec): Promise<string> {
    this.order.push("create");
    return super.create(spec);
  }
  override async readFiles(id: string, paths: readonly string[]): Promise<Map<string, Buffer>> {
    this.order.push(`read ${paths.join(",")}`);
    return super.readFiles(id, paths);
  }
  override async writeFiles(id: string, entries: readonly TarEntry[]): Promise<void> {
    this.order.push(`write ${entries.map((e) => e.path).join(",")}`);
    return super.writeFiles(id, entries);
  }
  override async start(id: string): Promise<void> {
    this.order.push("start");
    return super.start(id);
  }
  override async remove(id: string): Promise<void> {
    this.order.push("remove");
    return super.remove(id);
  }
}

/** What a daemon that crashed between create and writing the account leaves behind. */
async function halfMade(runtime: FakeRuntime, user: string, config: NodeConfig = makeConfig()): Promise<string> {
  const spec = containerSpec(INSTANCE, user, "default", config);
  await runtime.ensureNetwork({ name: spec.network, labels: {}, subnet: null });
  return runtime.create(spec);
}

describe("Environments and the ready marker", () => {
  it("writes the account and the marker in one archive call after create and before the first start", async () => {
    const runtime = new CallLog(new Map([[IMAGE, image()]]));
    const { envs } = harness({}, runtime);
    await envs.acquire("alice", "default");
    const writes = runtime.order.filter((c) => c.startsWith("write "));
    assert.equal(writes.length, 1, "one archive call");
    assert.match(writes[0] ?? "", /^write etc\/passwd,etc\/group,home\/alice,.*etc\/podspawn\/ready$/);
    const at = (c: string): number => runtime.order.findIndex((x) => x === c || x.startsWith(c + " "));
    assert.ok(at("create") < at("write") && at("write") < at("start"), runtime.order.join(" | "));
    const c = containerOf(runtime, "alice");
    assert.ok(c?.files.get(READY_MARKER_PATH), "the marker is in the container");
  });

  it("replaces a container found with our labels but no marker instead of adopting it", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const orphan = await halfMade(runtime, "alice");
    const { envs, events } = harness({}, runtime);
    const env = await envs.acquire("alice", "default");
    assert.notEqual(env.containerId, orphan);
    assert.equal(runtime.containers.has(orphan), false, "the half-made container is gone");
    const c = containerOf(runtime, "alice");
    assert.equal(c?.id, env.containerId);
    assert.equal(c?.running, true);
    assert.match(c?.files.get("/etc/passwd")?.toString("utf8") ?? "", /^alice:x:101001:101001:/m);
    assert.ok(c?.files.get(READY_MARKER_PATH));
    assert.deepEqual(env.account, { name: "alice", uid: 101001, gid: 101001, home: "/home/alice", shell: "/bin/bash" });
    assert.ok(events.some((e) => e.kind === "container-removed" && e.reason === "not-ready"));
  });

  it("replaces an unmarked container that recover adopted, at the first login after the restart", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const orphan = await halfMade(runtime, "alice");
    await runtime.start(orphan); // even a running one
    const { envs } = harness({}, runtime);
    assert.equal(await envs.recover(), 1);
    const env = await envs.acquire("alice", "default");
    assert.notEqual(env.containerId, orphan);
    assert.equal(runtime.containers.has(orphan), false);
    assert.deepEqual(envs.list().map((e) => [e.containerId, e.sessions]), [[env.containerId, 1]]);
  });

  it("replaces, after a restart, a container whose marker records another uid (made before users had ids of their own)", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const before = new Environments({ instance: INSTANCE, runtime, podIdOf: () => 70000, config: () => makeConfig(), log: () => undefined });
    const old = await before.acquire("alice", "default");
    before.release(old);
    assert.equal(old.account?.uid, 70000);
    const { envs } = harness({}, runtime);
    assert.equal(await envs.recover(), 1);
    const env = await envs.acquire("alice", "default");
    assert.notEqual(env.containerId, old.containerId);
    assert.equal(runtime.containers.has(old.containerId), false, "the container running as the old uid is gone");
    assert.equal(env.account?.uid, 101001);
    assert.match(runtime.containers.get(env.containerId)?.files.get("/etc/passwd")?.toString("utf8") ?? "", /^alice:x:101001:101001:/m);
  });

  it("adopts, after a restart, a container whose marker records the user's own id", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const first = harness({}, runtime).envs;
    const made = await first.acquire("alice", "default");
    first.release(made);
    const { envs } = harness({}, runtime);
    await envs.recover();
    assert.equal((await envs.acquire("alice", "default")).containerId, made.containerId);
  });

  it("replaces a stopped unmarked container rather than starting it", async () => {
    const runtime = new CallLog(new Map([[IMAGE, image()]]));
    const orphan = await halfMade(runtime, "alice");
    runtime.order.length = 0;
    await harness({}, runtime).envs.acquire("alice", "default");
    assert.deepEqual(runtime.order.slice(0, 3), ["inspect", `read ${READY_MARKER_PATH}`, "remove"]);
    assert.equal(runtime.containers.has(orphan), false);
    assert.equal(runtime.calls.start, 1, "only the new container was started");
  });

  it("reads no marker and makes one engine call on a warm login", async () => {
    const runtime = new CallLog(new Map([[IMAGE, image()]]));
    const { envs } = harness({}, runtime);
    envs.release(await envs.acquire("alice", "default"));
    runtime.order.length = 0;
    await envs.acquire("alice", "default");
    assert.deepEqual(runtime.order, ["inspect"]);
  });

  it("attaches to the marked container the engine has when it is not the one the table remembers", async () => {
    const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
    const { envs } = harness({}, runtime);
    const first = await envs.acquire("alice", "default");
    envs.release(first);
    // Replaced behind the daemon's back by a complete container of the same spec.
    runtime.containers.delete(first.containerId);
    const other = await halfMade(runtime, "alice");
    await new AccountProvisioner(runtime, testPodIds()).provision(other, "img", "alice", containerSpec(INSTANCE, "alice", "default", makeConfig()));
    const env = await envs.acquire("alice", "default");
    assert.equal(env.containerId, other);
    assert.equal(runtime.containers.get(other)?.running, true);
    assert.equal(runtime.calls.create, 2, "adopted, not created again");
  });

  it("removes a container at once when writing its account fails, and the next login gets a complete one", async () => {
    let failures = 1;
    class WriteFailsOnce extends FakeRuntime {
      override async writeFiles(id: string, entries: readonly TarEntry[]): Promise<void> {
        if (failures-- > 0) throw new Error("archive upload failed");
        return super.writeFiles(id, entries);
      }
    }
    const runtime = new WriteFailsOnce(new Map([[IMAGE, image()]]));
    const { envs } = harness({}, runtime);
    await assert.rejects(envs.acquire("alice", "default"), /archive upload failed/);
    assert.equal(runtime.containers.size, 0, "no half-made container is left");
    assert.deepEqual(envs.list(), []);
    const env = await envs.acquire("alice", "default");
    assert.ok(containerOf(runtime, "alice")?.files.get(READY_MARKER_PATH));
    assert.equal(env.sessions, 1);
  });

  it("counts max_lifetime from the replacement container's creation, not the vanished one's", async (t) => {
    const advance = mockTimers(t);
    const { runtime, envs } = harness({ session: { maxLifetimeMs: 5_000 } });
    const first = await envs.acquire("alice", "default");
    envs.release(first);
    await advance(3_000);
    runtime.containers.delete(first.containerId);
    const again = await envs.acquire("alice", "default");
    assert.equal(first.lifetimeTimer, null, "the replaced entry keeps no timer");
    await advance(2_000);
    assert.ok(runtime.containers.has(again.containerId), "the old container's deadline does not apply");
    await advance(3_000);
    assert.equal(runtime.containers.has(again.containerId), false, "its own deadline does");
  });
});

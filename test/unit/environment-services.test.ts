/**
 * The runtime half of a Podfile environment, on the fake engine: companion services (network,
 * alias, volumes, hardening fields, readiness, removal, recover, capacity) and the create-time
 * setup (once per container, its failure removing the environment).
 */
import { describe, it, type TestContext } from "node:test";
import { testPodIds } from "./helpers/pod-ids.js";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { LABEL } from "../../agent/src/core/container/container-spec.js";
import type { ExecPlan } from "../../agent/src/core/container/exec-plan.js";
import { SETUP_MARKER_PATH } from "../../agent/src/core/container/setup-marker.js";
import { contains } from "../../agent/src/core/net/cidr.js";
import { planEnvironment, SERVICE_LABEL, TRANSIENT_VOLUMES_LABEL, type EnvironmentPlan } from "../../agent/src/core/podfile/index.js";
import type { ContainerRuntime, ExecSession } from "../../agent/src/core/ports/container-runtime.js";
import type { Dial } from "../../agent/src/adapters/net/tcp-relay.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import type { SetupOutput } from "../../agent/src/daemon/environments/setup-runner.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { CAPS, resolveText } from "./helpers/podfile.js";
import { minimalImage } from "./helpers/fake-image.js";

const IMAGE = "podspawn/test:fake";
const PG = "podspawn/pg:fake";
const INSTANCE = "pst";

const image = (): Map<string, Buffer> => minimalImage();

function config(over: Partial<NodeConfig> = {}): NodeConfig {
  return { ...DEFAULT_NODE_CONFIG, pool: { ...DEFAULT_NODE_CONFIG.pool, size: 0, projectSize: 0 }, image: IMAGE, session: { ...DEFAULT_NODE_CONFIG.session, gracePeriodMs: 60_000, maxLifetimeMs: 0, idleTimeoutMs: 0 }, networkLingerMs: 0, ...over };
}

const PODFILE = `base: ${IMAGE}
env: {PGHOST: postgres, WHO: "\${PODSPAWN_USER}"}
services:
  - name: postgres
    image: ${PG}
    ports: [5432]
    env: {POSTGRES_PASSWORD: devpass}
    volumes: [pgdata:/var/lib/postgresql/data]
    ready: {port: 5432, timeout: 10s}
on_create: echo created
on_start: echo started
`;

async function planOf(text: string, user = "alice", project = "web", node = config()): Promise<EnvironmentPlan> {
  return planEnvironment((await resolveText(text)).podfile, { instance: INSTANCE, user, project, nodeConfig: node, caps: CAPS });
}

/** A dial that connects at once, or refuses the first `refusals` attempts. */
function fakeDial(refusals = 0): Dial & { readonly calls: string[] } {
  const calls: string[] = [];
  let left = refusals;
  const dial = async (host: string, port: number) => {
    calls.push(`${host}:${port}`);
    if (left-- > 0) throw new Error("ECONNREFUSED");
    return { destroy: () => undefined } as unknown as Socket;
  };
  return Object.assign(dial, { calls });
}

/** Records every exec's plan (the fake engine runs them). */
function recording(runtime: FakeRuntime): { engine: ContainerRuntime; execs: ExecPlan[] } {
  const execs: ExecPlan[] = [];
  const engine = new Proxy(runtime, {
    get(target, prop, receiver) {
      if (prop === "exec") return async (id: string, plan: ExecPlan): Promise<ExecSession> => (execs.push(plan), target.exec(id, plan));
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { engine, execs };
}

function harness(opts: { node?: NodeConfig; dial?: Dial; runtime?: FakeRuntime } = {}) {
  const runtime = opts.runtime ?? new FakeRuntime(new Map([[IMAGE, image()], [PG, new Map()]]));
  const { engine, execs } = recording(runtime);
  const events: DaemonEvent[] = [];
  const node = opts.node ?? config();
  const envs = new Environments({ instance: INSTANCE, runtime: engine, podIdOf: testPodIds(), config: () => node, log: (e) => events.push(e), dial: opts.dial ?? fakeDial() });
  return { runtime, envs, events, execs, node };
}

function output(): SetupOutput & { readonly lines: string[]; readonly bytes: string[] } {
  const lines: string[] = [];
  const bytes: string[] = [];
  return {
    lines,
    bytes,
    line: (t) => void lines.push(t),
    relay: (stream) =>
      new Promise((resolve) => {
        stream.on("data", (c: Buffer) => bytes.push(c.toString()));
        stream.on("end", resolve).on("close", resolve);
      }),
  };
}

function services(runtime: FakeRuntime) {
  return [...runtime.containers.values()].filter((c) => c.service !== null);
}

function mains(runtime: FakeRuntime) {
  return [...runtime.containers.values()].filter((c) => c.service === null);
}

describe("companion services", () => {
  it("runs each service on an internal per-(user, project) network from the daemon's pool, by its name, and joins the main container to it", async () => {
    const h = harness();
    const plan = await planOf(PODFILE);
    await h.envs.acquire("alice", "web", { plan });
    const [svc] = services(h.runtime);
    assert.ok(svc?.service);
    assert.equal(svc.service.name, "pst.alice.web.postgres");
    assert.equal(svc.service.alias, "postgres");
    assert.equal(svc.service.network, "pst.alice.web.services");
    assert.equal(svc.running, true);
    assert.deepEqual(svc.service.env, ["POSTGRES_PASSWORD=devpass"]);
    assert.deepEqual(svc.service.capAdd, []);
    assert.deepEqual(svc.service.volumes.map((v) => [v.name, v.target]), [["pst.alice.web.pgdata", "/var/lib/postgresql/data"]]);
    const net = h.runtime.networks.get("pst.alice.web.services");
    assert.equal(net?.internal, true);
    assert.ok(net && contains(DEFAULT_NODE_CONFIG.network.pool, net.subnet), "the services network's block is from network.pool");
    const [main] = mains(h.runtime);
    assert.ok(main);
    assert.equal(await h.runtime.containerAddress(main.id, "pst.alice.web.services") !== null, true, "the main container has an address on the services network");
    assert.equal(await h.runtime.containerAddress(main.id, "pst.alice"), main.address, "and keeps its own network");
  });

  it("gives two users' services networks different blocks, and another project of the same user another network", async () => {
    const h = harness();
    await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    await h.envs.acquire("bob", "web", { plan: await planOf(PODFILE, "bob") });
    await h.envs.acquire("alice", "api", { plan: await planOf(PODFILE, "alice", "api") });
    const nets = ["pst.alice.web.services", "pst.bob.web.services", "pst.alice.api.services"].map((n) => h.runtime.networks.get(n)?.subnet);
    assert.ok(nets.every((n) => n !== undefined));
    assert.equal(new Set(nets.map((n) => n?.base)).size, 3);
    assert.deepEqual(services(h.runtime).map((c) => c.spec.name).sort(), ["pst.alice.api.postgres", "pst.alice.web.postgres", "pst.bob.web.postgres"]);
  });

  it("removes services, their network and their non-persistent volumes with the environment", async () => {
    const h = harness();
    const env = await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    assert.equal(services(h.runtime)[0]?.spec.labels[TRANSIENT_VOLUMES_LABEL], "pst.alice.web.pgdata");
    assert.ok(h.runtime.volumes.has("pst.alice.web.pgdata"));
    await h.envs.destroy(env, "test");
    assert.deepEqual([...h.runtime.containers.values()], []);
    assert.equal(h.runtime.networks.has("pst.alice.web.services"), false);
    assert.equal(h.runtime.volumes.has("pst.alice.web.pgdata"), false);
  });

  it("keeps a persistent environment's service volumes when it goes, and `stop --purge` removes them", async () => {
    const node = config({ session: { ...config().session, mode: "persistent" } });
    const h = harness({ node });
    const env = await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE, "alice", "web", node) });
    assert.equal(services(h.runtime)[0]?.spec.labels[TRANSIENT_VOLUMES_LABEL], undefined);
    await h.envs.destroy(env, "test");
    assert.equal(services(h.runtime).length, 0);
    assert.ok(h.runtime.volumes.has("pst.alice.web.pgdata"), "the data outlives the container");
    await h.envs.stop("alice", "web", true);
    assert.equal(h.runtime.volumes.has("pst.alice.web.pgdata"), false);
    assert.equal(h.runtime.volumes.has("pst.alice.web.home"), false);
  });

  it("waits for a service's port to accept a connection on its services network address before the setup runs", async (t: TestContext) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
    const dial = fakeDial(3);
    const h = harness({ dial });
    const out = output();
    const got = h.envs.acquire("alice", "web", { plan: await planOf(PODFILE), output: out });
    for (let i = 0; i < 10 && dial.calls.length < 4; i++) {
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      t.mock.timers.tick(250);
      for (let j = 0; j < 20; j++) await new Promise((r) => setImmediate(r));
    }
    await got;
    const svc = services(h.runtime)[0];
    assert.ok(svc);
    const address = await h.runtime.containerAddress(svc.id, "pst.alice.web.services");
    assert.deepEqual(dial.calls, Array(4).fill(`${address}:5432`));
    assert.ok(h.events.some((e) => e.kind === "service-ready"));
    const ready = h.events.findIndex((e) => e.kind === "service-ready");
    const setup = h.events.findIndex((e) => e.kind === "setup-done");
    assert.ok(ready < setup, "ready before setup");
  });

  it("fails the login in one clear line when a service never answers within its timeout, and leaves nothing behind", async (t: TestContext) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
    const h = harness({ dial: fakeDial(Infinity) });
    const got = h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    const failed = got.then(
      () => null,
      (e: unknown) => e,
    );
    let err: unknown = null;
    for (let i = 0; i < 100 && err === null; i++) {
      for (let j = 0; j < 20; j++) await new Promise((r) => setImmediate(r));
      t.mock.timers.tick(250);
      err = await Promise.race([failed, new Promise((r) => setImmediate(() => r(null)))]);
    }
    assert.ok(err instanceof Error);
    assert.equal((err as { code?: string }).code, "service-not-ready");
    assert.equal(err.message, "the postgres service of your web environment did not accept connections on port 5432 within 10s");
    for (let j = 0; j < 40; j++) await new Promise((r) => setImmediate(r));
    assert.deepEqual([...h.runtime.containers.values()].map((c) => c.spec.name), []);
    assert.equal(h.runtime.networks.has("pst.alice.web.services"), false);
  });

  it("counts each service toward max_environments: a node of 3 holding one environment with a service refuses a second with a service, and fits one without", async () => {
    const node = config({ limits: { ...DEFAULT_NODE_CONFIG.limits, maxEnvironments: 3 } });
    const h = harness({ node });
    await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE, "alice", "web", node) });
    const refused = await h.envs.acquire("carol", "web", { plan: await planOf(PODFILE, "carol", "web", node) }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.equal((refused as { code?: string } | null)?.code, "max-environments");
    assert.equal(h.runtime.containers.size, 2, "the refused login created nothing");
    await h.envs.acquire("bob", "plain", { plan: await planOf(`base: ${IMAGE}\n`, "bob", "plain", node) });
    assert.equal(h.runtime.containers.size, 3);
  });

  it("after a restart adopts the environment with its services (never a service as an environment) and removes services whose environment is gone", async () => {
    const h = harness();
    await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    const bobEnv = await h.envs.acquire("bob", "web", { plan: await planOf(PODFILE, "bob") });
    // bob's main container goes behind the daemon's back; his service stays.
    await h.runtime.remove(bobEnv.containerId);
    const again = harness({ runtime: h.runtime });
    const adopted = await again.envs.recover();
    assert.equal(adopted, 1);
    assert.deepEqual(again.envs.list().map((e) => [e.key, e.services]), [["alice/web", 1]]);
    assert.deepEqual(services(h.runtime).map((c) => c.spec.name), ["pst.alice.web.postgres"]);
    assert.equal(h.runtime.networks.has("pst.bob.web.services"), false);
    // and removing the adopted environment removes its service too
    const [env] = again.envs.list();
    assert.ok(env);
    await again.envs.destroy(env, "test");
    assert.deepEqual(services(h.runtime), []);
  });

  it("`podspawn stop` removes services the table does not know of, with their network", async () => {
    const h = harness();
    await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    const fresh = harness({ runtime: h.runtime });
    const result = await fresh.envs.stop("alice", null, false);
    assert.equal(result.environments, 1, "the service is not counted as an environment");
    assert.deepEqual([...h.runtime.containers.values()], []);
    assert.equal(h.runtime.networks.has("pst.alice.web.services"), false);
  });
});

describe("a services network without its containers", () => {
  const NET = "pst.alice.web.services";
  const settle = async (): Promise<void> => {
    for (let j = 0; j < 60; j++) await new Promise((r) => setImmediate(r));
  };

  /** What a daemon that died between the services network and its containers leaves: the network alone, labelled. */
  async function leftNetwork(runtime: FakeRuntime, user = "alice", project = "web"): Promise<void> {
    const net = (await planOf(PODFILE, user, project)).servicesNetwork;
    assert.ok(net);
    await runtime.ensureNetwork(net);
  }

  it("is removed by the recover sweep when its (user, project) has no environment, by its labels", async () => {
    const h = harness();
    await leftNetwork(h.runtime);
    await leftNetwork(h.runtime, "bob", "api");
    await h.envs.recover();
    assert.deepEqual([...h.runtime.networks.keys()].filter((n) => n.endsWith(".services")), []);
    assert.ok(h.events.some((e) => e.kind === "network-removed" && e.network === NET && e.reason === "orphaned"));
  });

  it("is kept while any container is attached to it, even one that is only created", async () => {
    const h = harness();
    await leftNetwork(h.runtime);
    // Someone else's container on it (no podspawn labels: never adopted as an environment).
    await h.runtime.create({ ...(await planOf(PODFILE, "carol")).container, name: "foreign", labels: {}, network: NET });
    await h.envs.recover();
    assert.ok(h.runtime.networks.has(NET));
    assert.ok(h.events.some((e) => e.kind === "error" && e.code === "network-remove" && e.message === `kept network ${NET}: containers are still attached to it`));
  });

  it("is removed with an adopted environment whose services never came back, when its grace period ends", async (t: TestContext) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
    const h = harness();
    await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    // The daemon dies; its service goes too (by hand, or never made): the network stays.
    for (const c of services(h.runtime)) await h.runtime.remove(c.id);
    const again = harness({ runtime: h.runtime });
    await again.envs.recover();
    assert.deepEqual(again.envs.list().map((e) => [e.key, e.services]), [["alice/web", 0]]);
    assert.ok(h.runtime.networks.has(NET), "its environment is there: kept for now");
    t.mock.timers.tick(60_000);
    await settle();
    assert.deepEqual([...h.runtime.containers.values()], []);
    assert.equal(h.runtime.networks.has(NET), false);
  });

  it("is removed with an adopted environment at its max lifetime", async (t: TestContext) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
    const h = harness();
    await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    for (const c of services(h.runtime)) await h.runtime.remove(c.id);
    // The restarted daemon has a max lifetime (the first had none: none of its timers can remove anything).
    const node = config({ session: { ...config().session, gracePeriodMs: 10 * 3_600_000, maxLifetimeMs: 3_600_000 } });
    const again = harness({ runtime: h.runtime, node });
    await again.envs.recover();
    assert.equal(again.envs.list().length, 1);
    t.mock.timers.tick(3_600_000);
    await settle();
    assert.equal(again.envs.list().length, 0);
    assert.equal(h.runtime.networks.has(NET), false);
  });

  it("is removed by `podspawn stop` and by evicting the user", async () => {
    const h = harness();
    await leftNetwork(h.runtime);
    await leftNetwork(h.runtime, "alice", "api");
    await leftNetwork(h.runtime, "bob", "web");
    await h.envs.stop("alice", "web", false);
    assert.deepEqual([...h.runtime.networks.keys()].filter((n) => n.endsWith(".services")).sort(), ["pst.alice.api.services", "pst.bob.web.services"]);
    await h.envs.evict("bob");
    assert.deepEqual([...h.runtime.networks.keys()].filter((n) => n.endsWith(".services")), ["pst.alice.api.services"]);
    await h.envs.stop("alice", null, false);
    assert.deepEqual([...h.runtime.networks.keys()].filter((n) => n.endsWith(".services")), []);
  });

  it("is removed when the first service cannot be created, also for a login replacing an environment the table holds", async () => {
    const h = harness();
    await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    const [env] = h.envs.list();
    assert.ok(env);
    h.envs.release(env);
    // The Podfile now names a service image the node does not have: the recreate fails at its first service.
    const broken = await planOf(PODFILE.replace(`image: ${PG}`, "image: podspawn/absent:1"));
    await assert.rejects(h.envs.acquire("alice", "web", { plan: broken }), (e: unknown) => (e as { code?: string }).code === "image-missing");
    assert.deepEqual(services(h.runtime), []);
    assert.equal(h.runtime.networks.has(NET), false);
  });

  it("goes when the Podfile drops its services: the recreated environment takes its old services and their network away", async () => {
    const h = harness();
    await h.envs.acquire("alice", "web", { plan: await planOf(PODFILE) });
    const [env] = h.envs.list();
    assert.ok(env);
    h.envs.release(env);
    await h.envs.acquire("alice", "web", { plan: await planOf(`base: ${IMAGE}\non_create: echo created\n`) });
    assert.deepEqual(services(h.runtime), []);
    assert.deepEqual(mains(h.runtime).map((c) => c.spec.name), ["pst.alice.web"]);
    assert.equal(h.runtime.networks.has(NET), false);
  });
});

describe("create-time setup and session settings", () => {
  it("runs on_create once per container as the user with the Podfile's env, and not again after a restart adopts it", async () => {
    const h = harness();
    const plan = await planOf(PODFILE);
    const out = output();
    const env = await h.envs.acquire("alice", "web", { plan, output: out });
    const hooks = h.execs.filter((e) => e.argv.at(-1) === "echo created");
    assert.equal(hooks.length, 1);
    const hook = hooks[0];
    assert.ok(hook && env.account);
    assert.equal(hook.user, `${env.account.uid}:${env.account.gid}`);
    assert.ok(hook.env.includes("PGHOST=postgres") && hook.env.includes("WHO=alice") && hook.env.includes("PODSPAWN_PROJECT=web"), hook.env.join(" "));
    assert.deepEqual(out.bytes, ["created\n"], "its output went to the setup output");
    assert.deepEqual(out.lines, ["setting up environment web: on_create"]);
    const marker = (await h.runtime.readFiles(env.containerId, [SETUP_MARKER_PATH])).get(SETUP_MARKER_PATH);
    assert.ok(marker);
    h.envs.release(env);
    const again = harness({ runtime: h.runtime });
    await again.envs.recover();
    await again.envs.acquire("alice", "web", { plan });
    assert.equal(again.execs.filter((e) => e.argv.at(-1) === "echo created").length, 0);
    assert.equal(mains(h.runtime)[0]?.id, env.containerId, "the same container");
  });

  it("replaces an adopted container whose setup never finished (no setup marker) instead of attaching to it", async () => {
    const h = harness();
    const plan = await planOf(PODFILE);
    const env = await h.envs.acquire("alice", "web", { plan });
    h.runtime.containers.get(env.containerId)?.files.delete(SETUP_MARKER_PATH);
    const again = harness({ runtime: h.runtime });
    await again.envs.recover();
    const next = await again.envs.acquire("alice", "web", { plan });
    assert.notEqual(next.containerId, env.containerId);
    assert.equal(again.execs.filter((e) => e.argv.at(-1) === "echo created").length, 1);
  });

  it("removes the whole new environment when on_create fails, with its last lines in the message", async () => {
    const h = harness();
    const plan = await planOf(PODFILE.replace("on_create: echo created", "on_create: echo half-way >&2; exit 3"));
    const err = await h.envs.acquire("alice", "web", { plan, output: output() }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error);
    assert.equal((err as { code?: string }).code, "setup-failed");
    assert.equal(err.message, "setting up environment web: on_create failed (exit status 3)\n  half-way\n  (the new environment was removed; your next login sets it up from the start)");
    assert.deepEqual([...h.runtime.containers.values()], []);
    assert.equal(h.envs.has("alice", "web"), false);
  });

  it("keeps the default environment out of the services path: no network, no service, pooled as before", async () => {
    const h = harness();
    await h.envs.acquire("alice", "default", { plan: await planOf(`base: ${IMAGE}\n`, "alice", "default") });
    assert.deepEqual(services(h.runtime), []);
    assert.deepEqual([...h.runtime.networks.keys()], ["pst.alice"]);
    assert.equal(mains(h.runtime)[0]?.spec.labels[SERVICE_LABEL], undefined);
    assert.ok(mains(h.runtime)[0]?.spec.labels[LABEL.specHash]);
  });
});

import { testPodIds } from "./helpers/pod-ids.js";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { containerSpec } from "../../agent/src/core/container/container-spec.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { InputError } from "../../agent/src/core/errors.js";
import { listEnvironments } from "../../agent/src/daemon/control/list-environments.js";
import { stopForAdmin, stoppedMessage, type StopDeps } from "../../agent/src/daemon/control/stop-environments.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";

const IMAGE = "podspawn/test:fake";
const T0 = Date.UTC(2025, 0, 1);
const PERSISTENT: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: IMAGE, session: { ...DEFAULT_NODE_CONFIG.session, mode: "persistent" } };

function fakeImage(): Map<string, Map<string, Buffer>> {
  return new Map([[IMAGE, new Map([["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")], ["/etc/group", Buffer.from("root:x:0:\n")], ["/bin/sh", Buffer.alloc(0)]])]]);
}

async function world(config: NodeConfig = PERSISTENT): Promise<{ runtime: FakeRuntime; environments: Environments }> {
  const runtime = new FakeRuntime(fakeImage());
  const environments = new Environments({ instance: "pst", runtime, podIdOf: testPodIds(), config: () => config, log: () => undefined, now: () => T0 });
  for (const [user, project] of [["alice", "web"], ["alice", "api"], ["bob", "web"]] as const) environments.release(await environments.acquire(user, project));
  return { runtime, environments };
}

const names = (runtime: FakeRuntime): string[] => [...runtime.containers.values()].map((c) => c.spec.name).sort();

describe("Environments.stop", () => {
  it("removes one project's container and keeps its home volume without purge", async () => {
    const { runtime, environments } = await world();
    assert.deepEqual(await environments.stop("alice", "web", false), { environments: 1, volumes: 0 });
    assert.deepEqual(names(runtime), ["pst.alice.api", "pst.bob.web"]);
    assert.ok(runtime.volumes.has("pst.alice.web.home"), "the home survives a stop without --purge");
    assert.equal(environments.has("alice", "web"), false);
  });

  it("with purge deletes only that project's home volume, or all of the user's", async () => {
    const { runtime, environments } = await world();
    assert.deepEqual(await environments.stop("alice", "web", true), { environments: 1, volumes: 1 });
    assert.deepEqual([...runtime.volumes.keys()].sort(), ["pst.alice.api.home", "pst.bob.web.home"]);
    assert.deepEqual(await environments.stop("alice", null, true), { environments: 1, volumes: 1 });
    assert.deepEqual([...runtime.volumes.keys()], ["pst.bob.web.home"], "bob's home is untouched");
    assert.deepEqual(names(runtime), ["pst.bob.web"]);
  });

  it("also removes a container of the user that the table does not hold", async () => {
    const { runtime, environments } = await world();
    const spec = containerSpec("pst", "alice", "old", PERSISTENT);
    await runtime.create(spec);
    assert.deepEqual(await environments.stop("alice", "old", false), { environments: 1, volumes: 0 });
    assert.ok(!names(runtime).includes("pst.alice.old"));
  });
});

function stopDeps(environments: Environments, registered: string[], log: string[]): StopDeps {
  return {
    sessions: { endFor: (user, project, message) => (log.push(`end ${user} ${project} ${message}`), 2) },
    environments: {
      projectsOf: (u, v) => environments.projectsOf(u, v),
      stop: async (u, p, purge) => {
        log.push(`stop ${u} ${p} ${purge}`);
        return environments.stop(u, p, purge);
      },
    },
    isRegistered: async (u) => registered.includes(u),
  };
}

describe("stopForAdmin", () => {
  it("ends the sessions with the one-line notice first, then removes, and reports the counts", async () => {
    const { environments } = await world();
    const log: string[] = [];
    const res = await stopForAdmin({ op: "stop", user: "alice", project: null, purge: false }, stopDeps(environments, ["alice"], log));
    assert.deepEqual(res, { ok: true, environments: 2, sessions: 2, volumes: 0 });
    assert.deepEqual(log, ["end alice null your environment was stopped by the node's admin", "stop alice null false"]);
    assert.equal(stoppedMessage("web"), "your web environment was stopped by the node's admin");
  });

  it("refuses an unknown user by name, touching nothing", async () => {
    const { runtime, environments } = await world();
    const log: string[] = [];
    await assert.rejects(stopForAdmin({ op: "stop", user: "carol", project: null, purge: true }, stopDeps(environments, ["alice", "bob"], log)), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /^user: no pod user named "carol"/);
      return true;
    });
    assert.deepEqual(log, []);
    assert.equal(runtime.containers.size, 3);
  });

  it("refuses a project the user has nothing of, listing the ones they have", async () => {
    const { environments } = await world();
    const log: string[] = [];
    await assert.rejects(stopForAdmin({ op: "stop", user: "alice", project: "docs", purge: false }, stopDeps(environments, ["alice"], log)), /^InputError: project: alice has no environment "docs" on this node \(allowed: api, web\)$/);
    assert.deepEqual(log, []);
  });

  it("accepts a registered user with nothing running (nothing to do), and a purge of a home whose container is gone", async () => {
    const { runtime, environments } = await world();
    const log: string[] = [];
    assert.deepEqual(await stopForAdmin({ op: "stop", user: "dave", project: null, purge: false }, stopDeps(environments, ["dave"], log)), { ok: true, environments: 0, sessions: 2, volumes: 0 });
    await environments.stop("alice", "web", false);
    await assert.rejects(stopForAdmin({ op: "stop", user: "alice", project: "web", purge: false }, stopDeps(environments, ["alice"], [])), /no environment "web"/);
    assert.deepEqual(await stopForAdmin({ op: "stop", user: "alice", project: "web", purge: true }, stopDeps(environments, ["alice"], [])), { ok: true, environments: 0, sessions: 2, volumes: 1 });
    assert.ok(!runtime.volumes.has("pst.alice.web.home"));
  });
});

describe("listEnvironments", () => {
  it("reports each environment's status, sessions, creation and lifetime end", async () => {
    const config: NodeConfig = { ...PERSISTENT, session: { ...PERSISTENT.session, maxLifetimeMs: 3_600_000 } };
    const { runtime, environments } = await world(config);
    await environments.acquire("alice", "web");
    const bob = environments.list().find((e) => e.user === "bob");
    assert.ok(bob);
    const c = runtime.containers.get(bob.containerId);
    assert.ok(c);
    c.running = false;
    const listed = await listEnvironments({ instance: "pst", environments: () => environments.list(), runtime, config: () => config });
    const byKey = new Map(listed.map((e) => [`${e.user}/${e.project}`, e]));
    assert.equal(byKey.get("alice/web")?.status, "in-use");
    assert.equal(byKey.get("alice/web")?.sessions, 1);
    assert.equal(byKey.get("alice/api")?.status, "idle");
    assert.equal(byKey.get("bob/web")?.status, "stopped");
    assert.equal(byKey.get("alice/web")?.container, "pst.alice.web");
    assert.equal(byKey.get("alice/web")?.createdAt, new Date(T0).toISOString());
    assert.equal(byKey.get("alice/web")?.expiresAt, new Date(T0 + 3_600_000).toISOString());
  });

  it("says unknown when the engine does not answer, and no end without a max_lifetime", async () => {
    // max_lifetime defaults to 24h: this node turns it off.
    const config: NodeConfig = { ...PERSISTENT, session: { ...PERSISTENT.session, maxLifetimeMs: 0 } };
    const { runtime, environments } = await world(config);
    runtime.down = true;
    const listed = await listEnvironments({ instance: "pst", environments: () => environments.list(), runtime, config: () => config });
    assert.deepEqual(new Set(listed.map((e) => e.status)), new Set(["unknown"]));
    assert.deepEqual(new Set(listed.map((e) => e.expiresAt)), new Set([null]));
  });
});

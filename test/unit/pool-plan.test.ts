import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { drainPlan, nextFill, pickPooled, recentSpecs, type IdlePooled, type WantedSpec } from "../../agent/src/core/container/pool-plan.js";
import { isPooled, isPooledNetworkName, pooledContainerSpec, pooledNetworkName, pooledNetworkOf, pooledNetworkSpec, pooledOwner, poolTemplateOf } from "../../agent/src/core/container/pool-spec.js";
import { servicesNetworkName } from "../../agent/src/core/podfile/plan.js";
import { containerName, containerSpec, networkName } from "../../agent/src/core/container/container-spec.js";
import { decideAttach, mustReadMarker, type FoundContainer } from "../../agent/src/core/container/attach-decision.js";
import { parseClaimMarker, parseReadyMarker, renderReadyMarker } from "../../agent/src/core/container/ready-marker.js";
import { DEFAULT_NODE_CONFIG, parseNodeConfig } from "../../agent/src/core/config/node-config.js";
import { InputError } from "../../agent/src/core/errors.js";

const CONFIG = { ...DEFAULT_NODE_CONFIG, image: "podspawn/test:fake" };
const noFill = new Map<string, number>();
const idle = (id: string, hash = "h", imageId = "i1"): IdlePooled => ({ id, hash, imageId });
const want = (hash: string, size: number, imageId: string | null = "i1"): WantedSpec => ({ hash, size, imageId });

describe("pool-spec: the user-independent part of a container spec", () => {
  it("is the same for every user of one project and config, and differs when resources, image or runtime do", () => {
    const a = poolTemplateOf(containerSpec("pst", "alice", "default", CONFIG));
    const b = poolTemplateOf(containerSpec("pst", "bob", "default", CONFIG));
    assert.ok(a && b);
    assert.equal(a.hash, b.hash);
    for (const other of [{ ...CONFIG, resources: { ...CONFIG.resources, cpus: 3 } }, { ...CONFIG, image: "podspawn/other:x" }, { ...CONFIG, ociRuntime: "runsc" as const }]) {
      assert.notEqual(poolTemplateOf(containerSpec("pst", "alice", "default", other))?.hash, a.hash);
    }
  });

  it("has no template for a persistent home (a per-user mount only a create can add)", () => {
    assert.equal(poolTemplateOf(containerSpec("pst", "alice", "default", { ...CONFIG, session: { ...CONFIG.session, mode: "persistent" } })), null);
  });

  it("makes pooled containers on a network of their own whose name no user or services network can have, labelled pooled and naming no user, under a name no user's container can have", () => {
    const t = poolTemplateOf(containerSpec("pst", "alice", "default", CONFIG));
    assert.ok(t);
    const spec = pooledContainerSpec("pst", t, "sha256:x", "ab12");
    assert.equal(spec.network, pooledNetworkName("pst", "ab12"));
    assert.equal(pooledNetworkOf("pst", spec.labels), spec.network, "its label says which network is its own, also after a rename");
    assert.equal(pooledNetworkOf("other", spec.labels), null);
    assert.deepEqual(pooledNetworkSpec("pst", "ab12", null).name, spec.network);
    assert.ok(isPooledNetworkName("pst", spec.network));
    fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/), fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/), (user, project) => !isPooledNetworkName("pst", networkName("pst", user)) && !isPooledNetworkName("pst", servicesNetworkName("pst", user, project)) && networkName("pst", user) !== spec.network));
    assert.ok(isPooled(spec.labels));
    assert.equal(spec.labels["podspawn.user"], undefined);
    assert.equal(pooledOwner("pst", spec.name), "unclaimed");
    fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/), fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/), (user, project) => containerName("pst", user, project) !== spec.name));
    assert.deepEqual(pooledOwner("pst", containerName("pst", "alice", "web")), { user: "alice", project: "web" });
    assert.equal(pooledOwner("other", spec.name), null);
  });
});

describe("pool-plan", () => {
  it("claims only a container of the same template and image, the oldest first", () => {
    const list = [idle("a", "h", "old"), idle("b", "x"), idle("c"), idle("d")];
    assert.equal(pickPooled(list, "h", "i1")?.id, "c");
    assert.equal(pickPooled(list, "h", "new"), null);
    assert.equal(pickPooled([], "h", "i1"), null);
  });

  it("drains containers of unwanted templates, moved images and beyond a template's size", () => {
    const gone = drainPlan([idle("a", "gone"), idle("b", "h", "old"), idle("c"), idle("d"), idle("e")], [want("h", 2)], { maxEnvironments: 100, environments: 0, filling: noFill });
    assert.deepEqual(gone.map((c) => c.id).sort(), ["a", "b", "e"]);
  });

  it("gives way to users at capacity, other templates' containers first", () => {
    const gone = drainPlan([idle("a", "h"), idle("b", "x")], [want("h", 1), want("x", 1)], { maxEnvironments: 3, environments: 2, filling: noFill }, "h");
    assert.deepEqual(gone.map((c) => c.id), ["b"]);
  });

  it("fills the template furthest below its size, and none whose image is missing", () => {
    assert.equal(nextFill([idle("a", "h")], [want("h", 2), want("x", 2)], { maxEnvironments: 10, environments: 0, filling: noFill })?.hash, "x");
    assert.equal(nextFill([], [want("h", 2, null)], { maxEnvironments: 10, environments: 0, filling: noFill }), null);
    assert.equal(nextFill([idle("a"), idle("b")], [want("h", 2)], { maxEnvironments: 10, environments: 0, filling: noFill }), null, "full");
  });

  it("never plans past the node's capacity: users + filling + idle + the next fill <= max_environments", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 8 }), (max, users, idleN, filling, size) => {
        const list = Array.from({ length: idleN }, (_, i) => idle(`c${i}`));
        const cap = { maxEnvironments: max, environments: users, filling: new Map(filling ? [["h", filling]] : []) };
        const kept = list.length - drainPlan(list, [want("h", size)], cap).length;
        const next = nextFill(list.slice(0, kept), [want("h", size)], cap);
        if (next) assert.ok(users + filling + kept + 1 <= max);
        // What is kept fits beside the users, unless fills already in flight took the room.
        assert.ok(users + filling + kept <= Math.max(max, users + filling));
      }),
    );
  });

  it("keeps a seen template's pool until specs_idle_after has passed, and the default one always", () => {
    const def = { hash: "def", hostname: "default" };
    const web = { hash: "web", hostname: "web" };
    assert.deepEqual(recentSpecs([def], [{ template: web, lastUsedMs: 1000 }], 1000 + 59_999, 60_000).map((t) => t.hash), ["def", "web"]);
    assert.deepEqual(recentSpecs([def], [{ template: web, lastUsedMs: 1000 }], 1000 + 60_000, 60_000).map((t) => t.hash), ["def"]);
    assert.deepEqual(recentSpecs([def], [{ template: def, lastUsedMs: 0 }], 10, 60_000).map((t) => t.hash), ["def"]);
  });

  it("keeps one spec per project: a changed spec replaces the old one, and the default environment's old spec is not kept as a seen one", () => {
    const oldDefault = { hash: "old", hostname: "default" };
    const newDefault = { hash: "new", hostname: "default" };
    assert.deepEqual(recentSpecs([newDefault], [{ template: oldDefault, lastUsedMs: 5 }], 10, 60_000).map((t) => t.hash), ["new"]);
    const webV1 = { hash: "w1", hostname: "web" };
    const webV2 = { hash: "w2", hostname: "web" };
    assert.deepEqual(recentSpecs([], [{ template: webV1, lastUsedMs: 5 }, { template: webV2, lastUsedMs: 7 }], 10, 60_000).map((t) => t.hash), ["w2"]);
  });
});

describe("attach decision for a container claimed from the pool", () => {
  const spec = containerSpec("pst", "alice", "default", CONFIG);
  const template = poolTemplateOf(spec);
  assert.ok(template);
  const pooledLabels = pooledContainerSpec("pst", template, "sha256:x", "t").labels;
  const found = (marker: boolean | null, labels = pooledLabels): FoundContainer => ({ id: "c1", labels, running: true, marker });

  it("must read its marker (its labels name nobody), and attaches only when the marker proves the claim", () => {
    assert.equal(mustReadMarker(null, found(null), spec.labels), true);
    assert.deepEqual(decideAttach(null, found(true), spec.labels, template.hash), { action: "reuse", adopt: true });
    assert.deepEqual(decideAttach(null, found(false), spec.labels, template.hash), { action: "recreate", reason: "not-ready" });
  });

  it("is compared by its pool template: another template (or none, e.g. persistent now) is a config change", () => {
    assert.deepEqual(decideAttach(null, found(true), spec.labels, "another"), { action: "recreate", reason: "config-changed" });
    assert.deepEqual(decideAttach(null, found(true), spec.labels, null), { action: "recreate", reason: "config-changed" });
  });

  it("never attaches to another instance's pooled container", () => {
    const foreign = { ...pooledLabels, "podspawn.instance": "other" };
    assert.equal(decideAttach(null, found(true, foreign), spec.labels, template.hash).action, "refuse");
  });
});

describe("ready marker with a pool claim", () => {
  const account = { name: "alice", uid: 1000, gid: 1000, home: "/home/alice", shell: "/bin/sh" };
  it("records the project and time of the claim, and proves it only for that container, user and project", () => {
    const text = renderReadyMarker("c1", account, { project: "web", claimedAtMs: 42 });
    assert.deepEqual(parseClaimMarker(text, "c1", "alice"), { account, claim: { project: "web", claimedAtMs: 42 } });
    assert.deepEqual(parseReadyMarker(text, "c1", "alice", "web"), account);
    assert.equal(parseReadyMarker(text, "c1", "alice", "default"), null);
    assert.equal(parseReadyMarker(text, "c2", "alice", "web"), null);
    assert.equal(parseReadyMarker(text, "c1", "bob", "web"), null);
    assert.equal(parseReadyMarker(renderReadyMarker("c1", account), "c1", "alice", "web"), null, "an unclaimed marker proves no claim");
    assert.equal(parseClaimMarker(renderReadyMarker("c1", account), "c1", "alice"), null);
  });
});

describe("config: pool", () => {
  it("defaults to 2 for the default environment, 1 per project image, 30 min", () => {
    assert.deepEqual(DEFAULT_NODE_CONFIG.pool, { size: 2, projectSize: 1, specsIdleAfterMs: 30 * 60_000 });
  });

  it("refuses a bad size naming the field and what is allowed", () => {
    for (const [doc, field] of [[{ pool: { size: -1 } }, "pool.size"], [{ pool: { project_size: 1.5 } }, "pool.project_size"], [{ pool: { size: 65 } }, "pool.size"], [{ pool: { specs_idle_after: "soon" } }, "pool.specs_idle_after"]] as const) {
      assert.throws(
        () => parseNodeConfig(doc),
        (err: unknown) => err instanceof InputError && err.message.includes(field) && (field.endsWith("idle_after") || /0-64/.test(err.message)),
        field,
      );
    }
  });
});

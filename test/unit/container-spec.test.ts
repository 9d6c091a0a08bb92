import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { containerName, containerSpec, LABEL, networkName, networkSpec } from "../../agent/src/core/container/container-spec.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";

function config(over: { resources?: Partial<NodeConfig["resources"]>; ociRuntime?: NodeConfig["ociRuntime"]; image?: string } = {}): NodeConfig {
  return {
    ...DEFAULT_NODE_CONFIG,
    ...(over.image ? { image: over.image } : {}),
    ...(over.ociRuntime ? { ociRuntime: over.ociRuntime } : {}),
    resources: { ...DEFAULT_NODE_CONFIG.resources, ...over.resources },
  };
}

describe("containerSpec", () => {
  it("derives the container name, network, hostname and labels from the ids", () => {
    const spec = containerSpec("podspawn", "alice", "web", DEFAULT_NODE_CONFIG);
    assert.equal(spec.name, "podspawn.alice.web");
    assert.equal(spec.name, containerName("podspawn", "alice", "web"));
    assert.equal(spec.network, "podspawn.alice");
    assert.equal(spec.hostname, "web");
    assert.equal(spec.labels[LABEL.managed], "true");
    assert.equal(spec.labels[LABEL.instance], "podspawn");
    assert.equal(spec.labels[LABEL.user], "alice");
    assert.equal(spec.labels[LABEL.project], "web");
    assert.match(spec.labels[LABEL.specHash] ?? "", /^[0-9a-f]{16}$/);
    assert.deepEqual(Object.keys(spec.labels).sort(), Object.values(LABEL).sort());
  });

  it("copies image, OCI runtime and limits from the config", () => {
    const spec = containerSpec("p", "bob", "default", config({ image: "x/y:1", resources: { cpus: 1.5, memoryBytes: 1024 ** 3, pids: 300 } }));
    assert.equal(spec.image, "x/y:1");
    assert.equal(spec.ociRuntime, "runc");
    assert.equal(spec.cpus, 1.5);
    assert.equal(spec.memoryBytes, 1024 ** 3);
    assert.equal(spec.pidsLimit, 300);
  });

  it("adds no capabilities back", () => {
    assert.deepEqual(containerSpec("p", "alice", "web", DEFAULT_NODE_CONFIG).capAdd, []);
    assert.deepEqual(containerSpec("p", "alice", "web", config({ ociRuntime: "runsc" })).capAdd, []);
  });

  it("gives the same spec hash for equal configs", () => {
    const a = containerSpec("p", "alice", "web", config());
    const b = containerSpec("p", "alice", "web", JSON.parse(JSON.stringify(config())) as NodeConfig);
    assert.equal(a.labels[LABEL.specHash], b.labels[LABEL.specHash]);
  });

  it("ignores config that does not shape the container when hashing", () => {
    const a = containerSpec("p", "alice", "web", config());
    const b = containerSpec("p", "alice", "web", { ...config(), session: { mode: "destroy-on-disconnect", gracePeriodMs: 1, maxLifetimeMs: 2, idleTimeoutMs: 3 } });
    assert.equal(a.labels[LABEL.specHash], b.labels[LABEL.specHash]);
  });

  it("changes the spec hash when any limit, the image or the OCI runtime changes", () => {
    const base = containerSpec("p", "alice", "web", config()).labels[LABEL.specHash];
    const variants: NodeConfig[] = [
      config({ resources: { cpus: 3 } }),
      config({ resources: { memoryBytes: 3 * 1024 ** 3 } }),
      config({ resources: { pids: 600 } }),
      config({ image: "other/image:1" }),
      config({ ociRuntime: "runsc" }),
    ];
    for (const v of variants) assert.notEqual(containerSpec("p", "alice", "web", v).labels[LABEL.specHash], base);
  });

  it("changes the spec hash whenever the pids limit changes (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 32, max: 1_000_000 }), fc.integer({ min: 32, max: 1_000_000 }), (p1, p2) => {
        fc.pre(p1 !== p2);
        const h1 = containerSpec("p", "a", "w", config({ resources: { pids: p1 } })).labels[LABEL.specHash];
        const h2 = containerSpec("p", "a", "w", config({ resources: { pids: p2 } })).labels[LABEL.specHash];
        assert.notEqual(h1, h2);
      }),
    );
  });

  it("raises the pids limit to at least 1024 under runsc", () => {
    assert.equal(containerSpec("p", "a", "w", config({ ociRuntime: "runsc", resources: { pids: 512 } })).pidsLimit, 1024);
    assert.equal(containerSpec("p", "a", "w", config({ ociRuntime: "runsc", resources: { pids: 4096 } })).pidsLimit, 4096);
    assert.equal(containerSpec("p", "a", "w", config({ ociRuntime: "runc", resources: { pids: 512 } })).pidsLimit, 512);
  });
});

describe("containerName", () => {
  // Usernames may contain '-' and '_', projects may contain '-': joining them with '-' is ambiguous.
  // The daemon looks containers up by this name, so a collision hands one user another's container.
  it("gives different names to user a-b/project c and user a/project b-c", () => {
    assert.notEqual(containerName("podspawn", "a-b", "c"), containerName("podspawn", "a", "b-c"));
  });

  it("gives distinct names when a '-'-joined segment moves between user and project (property)", () => {
    const seg = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
    fc.assert(
      fc.property(seg, seg, seg, (x, y, z) => {
        // (x-y, z) and (x, y-z) are different (user, project) pairs, both valid.
        assert.notEqual(containerName("podspawn", `${x}-${y}`, z), containerName("podspawn", x, `${y}-${z}`));
      }),
    );
  });
});

describe("networkSpec", () => {
  it("names the per-user network and labels it as managed for the instance and user", () => {
    const net = networkSpec("podspawn", "alice");
    assert.equal(net.name, "podspawn.alice");
    assert.equal(net.name, networkName("podspawn", "alice"));
    assert.deepEqual(net.labels, { [LABEL.managed]: "true", [LABEL.instance]: "podspawn", [LABEL.user]: "alice" });
  });

  it("is shared by every project of the same user", () => {
    assert.equal(containerSpec("p", "alice", "a", DEFAULT_NODE_CONFIG).network, containerSpec("p", "alice", "b", DEFAULT_NODE_CONFIG).network);
    assert.notEqual(networkName("p", "alice"), networkName("p", "bob"));
  });
});

import { testPodIds } from "./helpers/pod-ids.js";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { drainFile, loadDrainState, saveDrainState } from "../../agent/src/adapters/fs/drain-file.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { containerName } from "../../agent/src/core/container/container-spec.js";
import { InputError, UserFacingError } from "../../agent/src/core/errors.js";
import { DRAIN_MARK, drainDropinPath, OPEN, parseDrainState, renderDrainDropin, type DrainState } from "../../agent/src/core/host/drain.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { DrainGate } from "../../agent/src/daemon/environments/drain-gate.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";

const IMAGE = "podspawn/test:fake";
const image = (): Map<string, Buffer> =>
  new Map([
    ["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")],
    ["/etc/group", Buffer.from("root:x:0:\n")],
    ["/bin/sh", Buffer.alloc(0)],
  ]);

function memoryGate(initial: DrainState = OPEN): DrainGate & { saved: DrainState[] } {
  const saved: DrainState[] = [];
  let current = initial;
  const gate = new DrainGate({ load: async () => current, save: async (s) => void (saved.push(s), (current = s)) }, () => new Date(Date.UTC(2025, 5, 1)));
  return Object.assign(gate, { saved });
}

function world(gate: DrainGate, config: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: IMAGE }) {
  const runtime = new FakeRuntime(new Map([[IMAGE, image()]]));
  let cfg = config;
  const envs = new Environments({ instance: "pst", runtime, podIdOf: testPodIds(), config: () => cfg, log: () => undefined, refuseNew: () => gate.refusal() });
  return { runtime, envs, setConfig: (c: NodeConfig) => void (cfg = c) };
}

describe("a drained node", () => {
  it("refuses a new environment with one line and creates nothing", async () => {
    const gate = memoryGate();
    await gate.set(true, "upgrade");
    const { runtime, envs } = world(gate);
    await assert.rejects(envs.acquire("alice", "default"), (err: unknown) => err instanceof UserFacingError && err.code === "node-draining" && /this node is draining: it starts no new environments/.test(err.message));
    assert.equal(runtime.containers.size, 0);
    assert.equal(runtime.networks.size, 0);
  });

  it("lets a returning user back into the environment that is still here, and existing sessions go on", async () => {
    const gate = memoryGate();
    const { runtime, envs } = world(gate);
    const first = await envs.acquire("alice", "default");
    await gate.set(true, null);
    const again = await envs.acquire("alice", "default");
    assert.equal(again.containerId, first.containerId);
    assert.equal(again.sessions, 2);
    envs.release(again);
    envs.release(again);
    // After a restart the daemon adopts it and still lets alice in (reuse, not create).
    const restarted = new Environments({ instance: "pst", runtime, podIdOf: testPodIds(), config: () => ({ ...DEFAULT_NODE_CONFIG, image: IMAGE }), log: () => undefined, refuseNew: () => gate.refusal() });
    await restarted.recover();
    assert.equal((await restarted.acquire("alice", "default")).containerId, first.containerId);
    await assert.rejects(restarted.acquire("bob", "default"), /draining/);
  });

  it("refuses a recreate before removing the container it would replace", async () => {
    const gate = memoryGate();
    const { runtime, envs, setConfig } = world(gate);
    const env = await envs.acquire("alice", "default");
    envs.release(env);
    await gate.set(true, null);
    setConfig({ ...DEFAULT_NODE_CONFIG, image: IMAGE, resources: { ...DEFAULT_NODE_CONFIG.resources, memoryBytes: 4 * 1024 ** 3 } });
    await assert.rejects(envs.acquire("alice", "default"), /draining/);
    assert.ok(runtime.containers.has(env.containerId), "the old container is still there");
    assert.ok([...runtime.containers.values()].some((c) => c.spec.name === containerName("pst", "alice", "default")));
  });

  it("takes new environments again once opened", async () => {
    const gate = memoryGate();
    await gate.set(true, null);
    const { envs } = world(gate);
    await assert.rejects(envs.acquire("alice", "default"), /draining/);
    await gate.set(false, null);
    assert.equal((await envs.acquire("alice", "default")).sessions, 1);
  });
});

describe("DrainGate", () => {
  it("saves before it takes effect, keeps the first since and reason on a second drain, and answers what it was", async () => {
    const gate = memoryGate();
    assert.deepEqual(await gate.set(true, "decommission"), OPEN);
    assert.deepEqual(gate.saved, [{ drained: true, reason: "decommission", since: "2025-06-01T00:00:00.000Z" }]);
    assert.equal((await gate.set(true, null)).drained, true);
    assert.deepEqual(gate.current(), { drained: true, reason: "decommission", since: "2025-06-01T00:00:00.000Z" });
    await gate.set(false, null);
    assert.deepEqual(gate.current(), OPEN);
  });

  it("does not change when saving fails", async () => {
    const gate = new DrainGate({ load: async () => OPEN, save: async () => Promise.reject(new Error("disk full")) });
    await assert.rejects(gate.set(true, null), /disk full/);
    assert.equal(gate.refusal(), null);
  });
});

describe("drain state file", () => {
  it("round-trips, treats a missing file as open and names a bad one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "podspawn-drain-"));
    try {
      const file = drainFile(dir);
      assert.deepEqual(await loadDrainState(file), OPEN);
      await saveDrainState(file, { drained: true, reason: "x", since: "2025-01-01T00:00:00.000Z" });
      assert.deepEqual(await loadDrainState(file), { drained: true, reason: "x", since: "2025-01-01T00:00:00.000Z" });
      await writeFile(file, "nope");
      await assert.rejects(loadDrainState(file), (e: unknown) => e instanceof InputError && e.field === file);
      assert.equal(await readFile(file, "utf8"), "nope", "a bad file is reported, not replaced");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a state whose drained is not a boolean or whose reason is not one line", () => {
    assert.throws(() => parseDrainState('{"drained":"yes"}', "f"), /f: drained: is not true or false/);
    assert.throws(() => parseDrainState('{"drained":true,"reason":"a\\nb"}', "f"), /f: reason: "a\\nb" is not a one-line reason/);
    assert.deepEqual(parseDrainState('{"drained":false,"reason":"ignored"}', "f"), OPEN);
  });
});

describe("the drain drop-in", () => {
  it("sets the mark sshd appends to its identification line, in a file before the instance's own drop-in", () => {
    const layout = layoutFor("podspawn-x");
    assert.equal(drainDropinPath("/etc/ssh/sshd_config", layout), "/etc/ssh/sshd_config.d/40-podspawn-x-drain.conf");
    assert.match(renderDrainDropin(layout), new RegExp(`^VersionAddendum ${DRAIN_MARK}$`, "m"));
  });
});

import { testPodIds } from "./helpers/pod-ids.js";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import type { MemoryCgroup, MemoryReading } from "../../agent/src/adapters/cgroup/memory-cgroup.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import { makeWatchExit } from "../../agent/src/daemon/session/exit-notice.js";

const IMAGE = "podspawn/test:fake";
const CONFIG: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: IMAGE };

function fakeImage(): Map<string, Map<string, Buffer>> {
  return new Map([[IMAGE, new Map([["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")], ["/etc/group", Buffer.from("root:x:0:\n")], ["/bin/sh", Buffer.alloc(0)]])]]);
}

/** A cgroup whose counter the test moves, counting reads (an exit that needs no explaining reads nothing). */
class ScriptedCgroup implements MemoryCgroup {
  reads = 0;
  reading: MemoryReading | null = { oomKills: 0, limitBytes: 512 * 1024 ** 2 };
  async read(): Promise<MemoryReading | null> {
    this.reads++;
    return this.reading;
  }
}

async function setup(): Promise<{ runtime: FakeRuntime; memory: ScriptedCgroup; target: { containerId: string; user: string; project: string } }> {
  const runtime = new FakeRuntime(fakeImage());
  const environments = new Environments({ instance: "pst", runtime, podIdOf: testPodIds(), config: () => CONFIG, log: () => undefined });
  const env = await environments.acquire("alice", "web");
  return { runtime, memory: new ScriptedCgroup(), target: { containerId: env.containerId, user: "alice", project: "web" } };
}

/** Lets the explanation reach its wait (it reads the cgroup and asks the engine first). */
async function turnsUntilTimer(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

describe("makeWatchExit", () => {
  it("explains a 137 with the limit when the container's OOM counter rose during the process", async () => {
    const { runtime, memory, target } = await setup();
    const watch = await makeWatchExit({ runtime, instance: "pst", memory })(target);
    memory.reading = { oomKills: 1, limitBytes: 512 * 1024 ** 2 };
    assert.equal(await watch.explain(137), "killed: out of memory (limit 512m)");
  });

  it("says nothing for a 137 without an OOM kill in a container that is still running after a second look", async (t) => {
    const { runtime, memory, target } = await setup();
    const watch = await makeWatchExit({ runtime, instance: "pst", memory, settleMs: 1000 })(target);
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const answer = watch.explain(137);
    await turnsUntilTimer();
    t.mock.timers.tick(1000);
    assert.equal(await answer, null);
  });

  it("explains a 137 whose container stops just after (the engine shutting down takes exec'd processes first)", async (t) => {
    const { runtime, memory, target } = await setup();
    const watch = await makeWatchExit({ runtime, instance: "pst", memory, settleMs: 1000 })(target);
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const answer = watch.explain(137);
    await turnsUntilTimer();
    const c = runtime.containers.get(target.containerId);
    assert.ok(c);
    c.running = false;
    t.mock.timers.tick(1000);
    assert.match((await answer) ?? "", /container stopped during the session/);
  });

  it("reads nothing after an ordinary exit", async () => {
    const { runtime, memory, target } = await setup();
    const watch = await makeWatchExit({ runtime, instance: "pst", memory })(target);
    assert.equal(memory.reads, 1, "the counter before the process");
    assert.equal(await watch.explain(1), null);
    assert.equal(memory.reads, 1);
  });

  it("says the container stopped when the engine has it stopped, or has another one by that name", async () => {
    const { runtime, memory, target } = await setup();
    const watch = await makeWatchExit({ runtime, instance: "pst", memory })(target);
    const c = runtime.containers.get(target.containerId);
    assert.ok(c);
    c.running = false;
    assert.match((await watch.explain(143)) ?? "", /container stopped during the session/);
    await runtime.remove(target.containerId);
    assert.match((await watch.explain(null)) ?? "", /container stopped during the session/);
  });

  it("says the engine stopped answering when it is down after the process", async () => {
    const { runtime, memory, target } = await setup();
    const watch = await makeWatchExit({ runtime, instance: "pst", memory })(target);
    runtime.down = true;
    assert.match((await watch.explain(null)) ?? "", /^the container engine on this node stopped answering/);
  });

  it("gives up (no line) when the facts do not come within its deadline, so the exit status is not held", async (t) => {
    const { runtime, memory, target } = await setup();
    const watch = await makeWatchExit({ runtime, instance: "pst", memory, timeoutMs: 3000 })(target);
    t.mock.timers.enable({ apis: ["setTimeout"] });
    memory.read = () => new Promise(() => undefined);
    const answer = watch.explain(137);
    t.mock.timers.tick(3000);
    assert.equal(await answer, null);
  });
});

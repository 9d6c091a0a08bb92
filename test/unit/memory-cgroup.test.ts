import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryCgroup, parseMemoryLimit, parseOomKills } from "../../agent/src/adapters/cgroup/memory-cgroup.js";

const root = mkdtempSync(join(tmpdir(), "pst-cgroup-"));
after(() => rmSync(root, { recursive: true, force: true }));

const id = (c: string): string => c.repeat(64);

function place(dir: string, files: Record<string, string>): void {
  mkdirSync(join(root, dir), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, dir, name), text);
}

describe("memoryCgroup", () => {
  it("reads the OOM-kill counter and limit of a cgroup v1 container (cgroupfs driver, as on these hosts)", async () => {
    place(`memory/docker/${id("a")}`, { "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n", "memory.limit_in_bytes": "536870912\n" });
    assert.deepEqual(await memoryCgroup(root).read(id("a")), { oomKills: 4, limitBytes: 512 * 1024 ** 2 });
  });

  it("reads cgroup v2 (memory.events, memory.max) and the systemd driver's scope", async () => {
    place(`system.slice/docker-${id("b")}.scope`, { "memory.events": "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n", "memory.max": "max\n" });
    assert.deepEqual(await memoryCgroup(root).read(id("b")), { oomKills: 1, limitBytes: null });
  });

  it("treats v1's page-rounded LONG_MAX as no limit", async () => {
    place(`memory/docker/${id("c")}`, { "memory.oom_control": "oom_kill 0\n", "memory.limit_in_bytes": "9223372036854771712\n" });
    assert.deepEqual(await memoryCgroup(root).read(id("c")), { oomKills: 0, limitBytes: null });
  });

  it("answers null for a container it cannot find, and never looks up anything but a full engine id", async () => {
    assert.equal(await memoryCgroup(root).read(id("d")), null);
    place("memory/docker/../../escape", { "memory.oom_control": "oom_kill 1\n" });
    assert.equal(await memoryCgroup(root).read("../../escape"), null);
  });

  it("parses only the counter line, and refuses a limit that is not a number", () => {
    assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\n"), null, "an old kernel without the counter");
    assert.equal(parseOomKills("oom_kill 12\n"), 12);
    assert.equal(parseMemoryLimit("max"), null);
    assert.equal(parseMemoryLimit("1024\n"), 1024);
  });
});

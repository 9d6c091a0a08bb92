import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerImageBuilder } from "../../agent/src/adapters/docker/docker-image-builder.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { UserFacingError } from "../../agent/src/core/errors.js";
import type { BuildContextFile, ImageBuilder, ImageBuildOptions, ImageBuildResult } from "../../agent/src/core/ports/image-builder.js";
import type { ProjectRecord } from "../../agent/src/core/projects/project-record.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { ImageBuilds } from "../../agent/src/daemon/projects/image-builds.js";
import { Planner } from "../../agent/src/daemon/projects/planner.js";

/**
 * Builds on login against the real engine (classic builder): the planner, the image builds and
 * the Docker adapter together. Needs Docker and podspawn/busybox:test; fails loudly otherwise.
 */
const BASE = "podspawn/busybox:test";
const run = randomBytes(4).toString("hex");
const logDir = mkdtempSync(join(tmpdir(), "pst-ibuilds-"));
const made = new Set<string>();

after(() => {
  for (const tag of made) execFileSync("docker", ["rmi", "--force", tag], { stdio: "ignore" });
  rmSync(logDir, { recursive: true, force: true });
});

/** The real builder, counting the builds it was asked for. */
class CountingBuilder implements ImageBuilder {
  builds = 0;
  private readonly docker = new DockerImageBuilder();
  exists(image: string): Promise<boolean> {
    return this.docker.exists(image);
  }
  build(context: readonly BuildContextFile[], opts: ImageBuildOptions): Promise<ImageBuildResult> {
    this.builds++;
    for (const t of opts.tags) made.add(t);
    return this.docker.build(context, opts);
  }
}

function rig(podfile: string, config: Partial<NodeConfig> = {}): { planner: Planner; builder: CountingBuilder; events: DaemonEvent[] } {
  const entry = "/srv/it/podfile.yaml";
  const record: ProjectRecord = { version: 1, name: "it", source: { kind: "podfile", file: entry }, podfile: { entry, files: { [entry]: podfile } }, notes: [] };
  const builder = new CountingBuilder();
  const events: DaemonEvent[] = [];
  const nodeConfig: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: BASE, ...config };
  const builds = new ImageBuilds({ builder, logDir, timeoutMs: () => nodeConfig.buildTimeoutMs, log: (e) => events.push(e) });
  return { planner: new Planner({ instance: "podspawn-it", config: () => nodeConfig, project: async (n) => (n === "it" ? record : null), builds }), builder, events };
}

const podfile = (marker: string, extra = ""): string => `name: it\nbase: ${BASE}\nextra_commands:\n  - echo ${marker} > /marker-${run}\n${extra}`;

describe("image builds on the real engine", { timeout: 300_000 }, () => {
  it("builds on the first plan and finds the image by its content tag the second time, with no build call", async () => {
    const r = rig(podfile(`cache-${run}`));
    const lines: string[] = [];
    const first = await r.planner.planFor("alice", "it", { onProgress: (l) => lines.push(l) });
    assert.equal(r.builder.builds, 1);
    assert.ok(lines.some((l) => /^building environment it: step 4\/\d+ : RUN \["\/bin\/sh","-c","echo cache-/.test(l)), lines.join("\n"));
    const marker = execFileSync("docker", ["run", "--rm", first.container.image, "cat", `/marker-${run}`], { encoding: "utf8" });
    assert.equal(marker, `cache-${run}\n`);
    const second = await r.planner.planFor("bob", "it");
    assert.equal(second.container.image, first.container.image);
    assert.equal(r.builder.builds, 1, "the content tag exists: no build call");
  });

  it("runs one build for five concurrent first logins that need one image", async () => {
    const r = rig(podfile(`five-${run}`));
    const plans = await Promise.all([1, 2, 3, 4, 5].map((i) => r.planner.planFor(`u${i}`, "it")));
    assert.equal(r.builder.builds, 1);
    assert.equal(new Set(plans.map((p) => p.container.image)).size, 1);
    assert.equal(r.events.filter((e) => e.kind === "image-built").length, 1);
  });

  it("ends a failed build with the failing step's last lines; the full log is a root-only file the daemon log names", async () => {
    const r = rig(podfile(`fail-${run}`, `  - 'echo first-${run}; echo "E: Unable to locate package nosuchpkg-${run}"; exit 100'\n`));
    const err = await r.planner.planFor("alice", "it").then(
      () => assert.fail("built"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof UserFacingError && err.code === "build-failed", String(err));
    const lines = err.message.split("\n");
    assert.match(lines[0] ?? "", /^building environment it failed at step 5\/\d+ \(RUN \["\/bin\/sh","-c","echo first-/);
    assert.ok(lines.includes(`  first-${run}`), err.message);
    assert.ok(lines.includes(`  E: Unable to locate package nosuchpkg-${run}`), err.message);
    assert.match(lines[lines.length - 2] ?? "", /returned a non-zero code: 100$/);
    assert.equal(lines[lines.length - 1], "  (the node's admin has the full build log)");
    assert.ok(lines.length <= 7, "a few lines");
    const failed = r.events.find((e) => e.kind === "image-build-failed");
    assert.ok(failed && failed.kind === "image-build-failed");
    assert.equal(statSync(failed.log).mode & 0o777, 0o600);
    const log = readFileSync(failed.log, "utf8");
    assert.match(log, new RegExp(`^Step 4/\\d+ : RUN .*echo fail-${run}`, "m"), "the earlier steps are in the log");
    assert.match(log, new RegExp(`^E: Unable to locate package nosuchpkg-${run}$`, "m"));
  });

  it("stops a build at build_timeout: one clear message, nothing tagged, no build container left", async () => {
    const r = rig(podfile(`slow-${run}`, `  - 'echo sleeping; sleep 600; echo ${run}'\n`), { buildTimeoutMs: 3000 });
    const err = await r.planner.planFor("alice", "it").then(
      () => assert.fail("built"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof UserFacingError, String(err));
    assert.match(err.message, /^building environment it did not finish within 3s at step 5\/\d+ \(RUN \["\/bin\/sh","-c","echo sleeping; sleep 600; echo \w+"\]\)\n {2}sleeping\n/);
    const failed = r.events.find((e) => e.kind === "image-build-failed");
    assert.ok(failed && failed.kind === "image-build-failed" && failed.reason === "timeout");
    assert.equal(await new DockerImageBuilder().exists(failed.image), false);
    // The engine kills and removes the step's container once the request is gone; give it a moment.
    const stepContainers = (): string[] => execFileSync("docker", ["ps", "-a", "--no-trunc", "--format", "{{.Command}}"], { encoding: "utf8" }).split("\n").filter((c) => c.includes(`echo ${run}`));
    for (let i = 0; i < 50 && stepContainers().length > 0; i++) await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(stepContainers(), [], "no build container left");
  });
});

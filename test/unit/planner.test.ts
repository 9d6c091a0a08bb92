import { after, beforeEach, describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeImageBuilder } from "../../agent/src/adapters/fake/fake-image-builder.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { InputError, UserFacingError } from "../../agent/src/core/errors.js";
import type { ProjectRecord } from "../../agent/src/core/projects/project-record.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { ImageBuilds } from "../../agent/src/daemon/projects/image-builds.js";
import { Planner, UNKNOWN_PROJECT_ALLOWED } from "../../agent/src/daemon/projects/planner.js";

const BASE = "podspawn/default:bookworm";
const CONFIG: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: BASE, buildTimeoutMs: 60_000 };
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function record(name: string, podfile: string, others: Record<string, string> = {}): ProjectRecord {
  const entry = `/srv/${name}/podfile.yaml`;
  return { version: 1, name, source: { kind: "podfile", file: entry }, podfile: { entry, files: { [entry]: podfile, ...others } }, notes: [] };
}

interface Rig {
  readonly builder: FakeImageBuilder;
  readonly planner: Planner;
  readonly events: DaemonEvent[];
  readonly logDir: string;
  readonly projects: Map<string, ProjectRecord>;
  config: NodeConfig;
}

function rig(opts: { slots?: number; maxWaiting?: number; runcGate?: (what: "project") => void } = {}): Rig {
  const images = new Map([[BASE, new Map([["/bin/sh", Buffer.from("")]])]]);
  const builder = new FakeImageBuilder(images);
  const logDir = mkdtempSync(join(tmpdir(), "pst-builds-"));
  dirs.push(logDir);
  const events: DaemonEvent[] = [];
  const projects = new Map<string, ProjectRecord>();
  const r: Rig = { builder, events, logDir, projects, config: CONFIG, planner: undefined as unknown as Planner };
  const { runcGate, ...buildOpts } = opts;
  const builds = new ImageBuilds({ builder, logDir, timeoutMs: () => r.config.buildTimeoutMs, log: (e) => events.push(e), ...buildOpts });
  (r as { planner: Planner }).planner = new Planner({ instance: "pst", config: () => r.config, project: async (n) => projects.get(n) ?? null, builds, ...(runcGate ? { runcGate } : {}) });
  return r;
}

/** Lets the planner's engine and file calls run until `cond` holds (the suite's timeout guards a hang). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((res) => setImmediate(res));
}

const WEB = `name: web\nbase: ${BASE}\nextra_commands:\n  - echo web-built\n`;

describe("Planner.planFor", () => {
  it("without a project gives the node's default environment: its configured image, nothing built", async () => {
    const r = rig();
    const plan = await r.planner.planFor("alice", "default");
    assert.deepEqual(plan.image, { kind: "existing", image: BASE });
    assert.equal(plan.container.image, BASE);
    assert.equal(plan.container.name, "pst.alice.default");
    assert.equal(r.builder.builds.length, 0);
  });

  it("refuses a project the node does not have, naming it, before anything is built", async () => {
    const r = rig();
    r.projects.set("web", record("web", WEB));
    await assert.rejects(r.planner.planFor("alice", "nope"), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.message, `PODSPAWN_PROJECT: no project "nope" on this node (allowed: ${UNKNOWN_PROJECT_ALLOWED})`);
      return true;
    });
    assert.equal(r.builder.builds.length, 0);
  });

  it("asks the runc gate for a project environment and builds nothing when it refuses; the default environment does not ask", async () => {
    const asked: string[] = [];
    const r = rig({
      runcGate: (what) => {
        asked.push(what);
        throw new UserFacingError("runc-vulnerable", "refused by the gate");
      },
    });
    r.projects.set("web", record("web", WEB));
    await assert.rejects(r.planner.planFor("alice", "web"), (err: unknown) => err instanceof UserFacingError && err.code === "runc-vulnerable");
    assert.deepEqual(asked, ["project"]);
    assert.equal(r.builder.builds.length, 0, "no Podfile build on a runc its author could escape");
    await r.planner.planFor("alice", "default");
    r.projects.set("plain", { version: 1, name: "plain", source: { kind: "default" }, podfile: null, notes: [] });
    await r.planner.planFor("alice", "plain");
    assert.deepEqual(asked, ["project"], "the default environment (and a project that runs it) is the admin's image");
  });

  it("plans a project from its snapshot (extends included) and builds its image once; the next plan builds nothing", async () => {
    const r = rig();
    r.projects.set("web", record("web", `extends: ./base.yaml\nname: web\nextra_commands: [echo child]\n`, { "/srv/web/base.yaml": `base: ${BASE}\nextra_commands: [echo parent]\n` }));
    const lines: string[] = [];
    const plan = await r.planner.planFor("alice", "web", { onProgress: (l) => lines.push(l) });
    assert.equal(plan.image.kind, "build");
    assert.match(plan.container.image, /^podspawn\/web:podfile-[0-9a-f]{12}$/);
    assert.equal(r.builder.builds.length, 1);
    assert.deepEqual(r.builder.builds[0]?.tags, [plan.container.image]);
    assert.match(r.builder.builds[0]?.dockerfile ?? "", /echo parent[\s\S]*echo child/);
    assert.ok(lines.some((l) => /^building environment web: step 4\/\d+ : RUN \["\/bin\/sh","-c","echo parent"\]$/.test(l)), lines.join("\n"));
    assert.ok(await r.builder.exists(plan.container.image));
    const again = await r.planner.planFor("bob", "web");
    assert.equal(again.container.image, plan.container.image);
    assert.equal(r.builder.builds.length, 1, "the tag exists: no second build");
    assert.equal(r.events.filter((e) => e.kind === "image-built").length, 1);
  });

  it("a registered project named default replaces the default environment", async () => {
    const r = rig();
    r.projects.set("default", record("default", WEB));
    const plan = await r.planner.planFor("alice", "default");
    assert.match(plan.container.image, /^podspawn\/default:podfile-/);
  });

  it("runs one build for five concurrent first logins of one tag, and every one of them sees its steps", async () => {
    const r = rig();
    r.projects.set("web", record("web", WEB));
    let open!: () => void;
    r.builder.gate = new Promise((resolve) => (open = resolve));
    const seen: string[][] = [[], [], [], [], []];
    const plans = seen.map((lines, i) => r.planner.planFor(`u${i}`, "web", { onProgress: (l) => lines.push(l) }));
    await until(() => r.builder.builds.length > 0 && seen.every((l) => l.length > 0 || l === seen[0]));
    open();
    const done = await Promise.all(plans);
    assert.equal(r.builder.builds.length, 1);
    assert.equal(new Set(done.map((p) => p.container.image)).size, 1);
    for (const lines of seen) assert.ok(lines.some((l) => l.startsWith("building environment web: step 2/")), lines.join("|"));
    assert.equal(seen.flat().filter((l) => l.endsWith("waiting for the build another login started")).length, 4);
  });

  it("ends every login that waited through a failed build with that failure; a later login tries again", async () => {
    const r = rig();
    r.projects.set("web", record("web", `name: web\nbase: ${BASE}\nextra_commands:\n  - 'echo compiling; echo no-such-thing; exit 4'\n`));
    let open!: () => void;
    r.builder.gate = new Promise((resolve) => (open = resolve));
    const logins = [1, 2, 3].map((i) => r.planner.planFor(`u${i}`, "web").then(() => null, (err: unknown) => err));
    await until(() => r.builder.builds.length > 0 || r.events.length > 0);
    open();
    const errors = await Promise.all(logins);
    assert.equal(r.builder.builds.length, 1, "one build for the three");
    const messages = errors.map((e) => (e as Error).message);
    assert.equal(new Set(messages).size, 1);
    assert.ok(errors.every((e) => e instanceof UserFacingError && e.code === "build-failed"));
    r.builder.gate = null;
    await assert.rejects(r.planner.planFor("u4", "web"), UserFacingError);
    assert.equal(r.builder.builds.length, 2, "a new login after the failure builds again");
  });

  it("a failed build's message names the failing step and its last lines; the full log is a file the daemon log names", async () => {
    const r = rig();
    r.projects.set("web", record("web", `name: web\nbase: ${BASE}\nextra_commands:\n  - echo fine\n  - 'echo line-1; echo line-2; echo "E: Unable to locate package nosuchpkg"; exit 100'\n`));
    const err = await r.planner.planFor("alice", "web").then(
      () => assert.fail("built"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof UserFacingError);
    const lines = err.message.split("\n");
    assert.match(lines[0] ?? "", /^building environment web failed at step 5\/7 \(RUN \["\/bin\/sh","-c","echo line-1; echo line-2; echo \\"E: Unable/);
    assert.deepEqual(lines.slice(1), ["  line-1", "  line-2", "  E: Unable to locate package nosuchpkg", "  The command '/bin/sh -c echo line-1; echo line-2; echo \"E: Unable to locate package nosuchpkg\"; exit 100' returned a non-zero code: 100", "  (the node's admin has the full build log)"]);
    const failed = r.events.find((e) => e.kind === "image-build-failed");
    assert.ok(failed && failed.kind === "image-build-failed");
    assert.equal(failed.reason, "step-failed");
    assert.deepEqual(readdirSync(r.logDir), [failed.log.slice(r.logDir.length + 1)]);
    const log = readFileSync(failed.log, "utf8");
    assert.match(log, /^Step 4\/7 : RUN .*echo fine"\]$/m);
    assert.match(log, /^fine$/m, "the earlier steps' output is in the log");
    assert.match(err.detail ?? "", new RegExp(`full log: ${failed.log}`));
  });

  it("stops a build at the node's build_timeout and says so, with the step it was at", async () => {
    const r = rig();
    r.config = { ...CONFIG, buildTimeoutMs: 90_000 };
    r.projects.set("web", record("web", `name: web\nbase: ${BASE}\nextra_commands:\n  - echo start; sleep 3600\n`));
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const outcome = r.planner.planFor("alice", "web").then(() => null, (e: unknown) => e);
      await until(() => r.builder.builds.length === 1);
      for (let i = 0; i < 50; i++) await new Promise((res) => setImmediate(res));
      mock.timers.tick(89_999);
      await new Promise((res) => setImmediate(res));
      assert.equal(r.events.some((e) => e.kind === "image-build-failed"), false, "still building 1 ms before the deadline");
      mock.timers.tick(1);
      const err = await outcome;
      assert.ok(err instanceof UserFacingError);
      assert.match(err.message, /^building environment web did not finish within 90s at step 4\/6 \(RUN \["\/bin\/sh","-c","echo start; sleep 3600"\]\)\n {2}start\n/);
    } finally {
      mock.timers.reset();
    }
  });

  it("refuses a project whose base image is not on the node, without starting a build", async () => {
    const r = rig();
    r.projects.set("web", record("web", `name: web\nbase: podspawn/absent:1\nextra_commands: [echo x]\n`));
    await assert.rejects(r.planner.planFor("alice", "web"), (err: unknown) => err instanceof UserFacingError && err.message === "environment web is built on the image podspawn/absent:1, which is not available on this node");
    assert.equal(r.builder.builds.length, 0);
  });

  it("a record that no longer fits the node is the admin's problem, told to the user in one line", async () => {
    const r = rig();
    r.projects.set("web", record("web", `name: web\nbase: ${BASE}\nresources:\n  memory: 4g\n`));
    r.config = { ...CONFIG, resources: { ...CONFIG.resources, memoryBytes: 2 * 1024 ** 3 } };
    await assert.rejects(r.planner.planFor("alice", "web"), (err: unknown) => {
      assert.ok(err instanceof UserFacingError && !(err instanceof InputError));
      assert.equal(err.message, "project web's environment does not fit this node: /srv/web/podfile.yaml:4: resources.memory: 4g is above this node's cap of 2g (allowed: at most 2g)");
      return true;
    });
  });

  it("a registry it cannot read is reported as the admin's problem, with the detail for the log", async () => {
    const r = rig();
    const planner = new Planner({ instance: "pst", config: () => CONFIG, project: async () => Promise.reject(new InputError("/etc/pst/projects/web.json:2: name", "is not valid")), builds: new ImageBuilds({ builder: r.builder, logDir: r.logDir, timeoutMs: () => 1000, log: () => undefined }) });
    await assert.rejects(planner.planFor("alice", "web"), (err: unknown) => err instanceof UserFacingError && err.message === "project web is not set up correctly on this node; tell the node's admin" && /web\.json:2/.test(err.detail ?? ""));
  });
});

describe("ImageBuilds slots", () => {
  beforeEach(() => undefined);

  it("runs at most `slots` builds at once, queues a bounded number, and refuses the rest with one line", async () => {
    const r = rig({ slots: 1, maxWaiting: 1 });
    for (const name of ["a", "b", "c"]) r.projects.set(name, record(name, `name: ${name}\nbase: ${BASE}\nextra_commands: [echo ${name}]\n`));
    let open!: () => void;
    r.builder.gate = new Promise((resolve) => (open = resolve));
    const lines: string[] = [];
    const a = r.planner.planFor("u", "a");
    await until(() => r.builder.builds.length > 0);
    const b = r.planner.planFor("u", "b", { onProgress: (l) => lines.push(l) });
    await until(() => lines.length > 0);
    assert.deepEqual(lines, ["building environment b: waiting for a free build slot on this node"]);
    await assert.rejects(r.planner.planFor("u", "c"), (err: unknown) => err instanceof UserFacingError && err.code === "build-busy" && err.message === "this node is busy building other environments; try again in a few minutes (environment c needs a build)");
    assert.equal(r.builder.builds.length, 1);
    open();
    await Promise.all([a, b]);
    assert.equal(r.builder.builds.length, 2);
  });
});

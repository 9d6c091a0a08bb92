import { testPodIds } from "./helpers/pod-ids.js";
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeImageBuilder } from "../../agent/src/adapters/fake/fake-image-builder.js";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { encodeFrame, FrameDecoder, FrameType, type Frame } from "../../agent/src/core/protocol/frames.js";
import type { ProjectRecord } from "../../agent/src/core/projects/project-record.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import { ImageBuilds } from "../../agent/src/daemon/projects/image-builds.js";
import { Planner } from "../../agent/src/daemon/projects/planner.js";
import { handleSession } from "../../agent/src/daemon/session/session.js";

/** Sessions of projects: the planner between HELLO and the container, with the fake engine and builder. */
const IMAGE = "podspawn/default:bookworm";
const CONFIG: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: IMAGE };
const SUITE = { timeout: 60_000 };
const dir = mkdtempSync(join(tmpdir(), "pst-sproj-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

function baseImage(): Map<string, Buffer> {
  return new Map([
    ["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")],
    ["/etc/group", Buffer.from("root:x:0:\n")],
    ["/bin/sh", Buffer.alloc(0)],
  ]);
}

function record(name: string, podfile: string): ProjectRecord {
  const entry = `/srv/${name}/podfile.yaml`;
  return { version: 1, name, source: { kind: "podfile", file: entry }, podfile: { entry, files: { [entry]: podfile } }, notes: [] };
}

interface Login {
  readonly frames: Frame[];
  readonly runtime: FakeRuntime;
  readonly builder: FakeImageBuilder;
}

/** One login of alice with `project` (null: none) running `command`, until the daemon closes the connection. */
async function run(project: string | null, command: string, projects: readonly ProjectRecord[]): Promise<Login> {
  const runtime = new FakeRuntime(new Map([[IMAGE, baseImage()]]));
  const builder = new FakeImageBuilder(runtime.images);
  const log = (): void => undefined;
  const environments = new Environments({ instance: "pst", runtime, podIdOf: testPodIds(), config: () => CONFIG, log });
  const builds = new ImageBuilds({ builder, logDir: dir, timeoutMs: () => 60_000, log });
  const planner = new Planner({ instance: "pst", config: () => CONFIG, project: async (n) => projects.find((p) => p.name === n) ?? null, builds });
  const path = join(dir, `s${++seq}.sock`);
  const server: Server = createServer((sock) => handleSession(sock, "alice", { runtime, environments, planner, config: () => CONFIG, log, audit: () => undefined, egress: async () => undefined }));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const frames: Frame[] = [];
  try {
    const socket: Socket = connect(path);
    const decoder = new FrameDecoder();
    socket.on("data", (c: Buffer) => frames.push(...decoder.push(c)));
    socket.on("error", () => undefined);
    socket.once("connect", () => socket.write(encodeFrame(FrameType.Hello, JSON.stringify({ v: 1, command, tty: false, cols: 0, rows: 0, term: null, env: {}, project }))));
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return { frames, runtime, builder };
}

const text = (frames: readonly Frame[], type: number): string => Buffer.concat(frames.filter((f) => f.type === type).map((f) => f.payload)).toString("utf8");
const WEB = record("web", `name: web\nbase: ${IMAGE}\nextra_commands:\n  - echo building-web\n`);

describe("sessions of projects", SUITE, () => {
  it("a login whose project image must be built gets its steps as PROGRESS frames, never on stdout, then runs in the built image", async () => {
    const r = await run("web", "echo hi", [WEB]);
    assert.equal(text(r.frames, FrameType.Stdout), "hi\n");
    const progress = r.frames.filter((f) => f.type === FrameType.Progress).map((f) => f.payload.toString("utf8"));
    assert.ok(progress.length >= 3, progress.join("\n"));
    assert.ok(progress.every((l) => l.startsWith("building environment web: step ")), progress.join("\n"));
    const firstOut = r.frames.findIndex((f) => f.type === FrameType.Stdout);
    assert.ok(r.frames.findLastIndex((f) => f.type === FrameType.Progress) < firstOut, "progress comes before the session's output");
    assert.equal(r.builder.builds.length, 1);
    const [container] = [...r.runtime.containers.values()];
    assert.match(container?.spec.image ?? "", /^podspawn\/web:podfile-[0-9a-f]{12}$/);
    assert.deepEqual(JSON.parse(text(r.frames, FrameType.Exit)), { code: 0 });
  });

  it("refuses an unknown project with one ERROR frame naming it, and creates nothing", async () => {
    const r = await run("nope", "echo should-not-run", [WEB]);
    assert.deepEqual(r.frames.map((f) => f.type), [FrameType.Error]);
    assert.match(JSON.parse(text(r.frames, FrameType.Error)).message, /^PODSPAWN_PROJECT: no project "nope" on this node \(allowed: /);
    assert.deepEqual([r.runtime.calls.create, r.runtime.calls.createNetwork, r.builder.builds.length], [0, 0, 0]);
  });

  it("ends a login whose build fails with the failing step's last lines in its one ERROR frame, and creates nothing", async () => {
    const broken = record("web", `name: web\nbase: ${IMAGE}\nextra_commands:\n  - 'echo oops; exit 2'\n`);
    const r = await run("web", "echo should-not-run", [broken]);
    const message = JSON.parse(text(r.frames, FrameType.Error)).message as string;
    assert.match(message, /^building environment web failed at step 4\/6 \(RUN .*echo oops; exit 2.*\)\n {2}oops\n/);
    assert.equal(text(r.frames, FrameType.Stdout), "");
    assert.equal(r.runtime.calls.create, 0);
  });

  it("a login without a project still lands in the node's default environment, nothing built", async () => {
    const r = await run(null, "echo hi", [WEB]);
    assert.equal(text(r.frames, FrameType.Stdout), "hi\n");
    assert.equal(r.frames.some((f) => f.type === FrameType.Progress), false);
    assert.equal([...r.runtime.containers.values()][0]?.spec.image, IMAGE);
  });
});

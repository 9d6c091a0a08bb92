import { testPodIds } from "./helpers/pod-ids.js";
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import type { MemoryCgroup, MemoryReading } from "../../agent/src/adapters/cgroup/memory-cgroup.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { encodeFrame, FrameDecoder, FrameType, type Frame } from "../../agent/src/core/protocol/frames.js";
import { Environments } from "../../agent/src/daemon/environments/environments.js";
import { LiveSessions } from "../../agent/src/daemon/live-sessions.js";
import { makeWatchExit, type WatchExit } from "../../agent/src/daemon/session/exit-notice.js";
import { noticeText } from "../../agent/src/daemon/session/outcome.js";
import { handleSession } from "../../agent/src/daemon/session/session.js";
import { FakeImageBuilder } from "../../agent/src/adapters/fake/fake-image-builder.js";
import { ImageBuilds } from "../../agent/src/daemon/projects/image-builds.js";
import { Planner } from "../../agent/src/daemon/projects/planner.js";
import type { ProjectRecord } from "../../agent/src/core/projects/project-record.js";

const IMAGE = "podspawn/test:fake";
const MIN = 60_000;
const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);
const SUITE = { timeout: 30_000 };

const dir = mkdtempSync(join(tmpdir(), "pst-notices-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

function fakeImage(): Map<string, Map<string, Buffer>> {
  return new Map([[IMAGE, new Map([["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")], ["/etc/group", Buffer.from("root:x:0:\n")], ["/bin/sh", Buffer.alloc(0)]])]]);
}

interface RigOptions {
  readonly maxLifetimeMs?: number;
  /** The sessions' clock; the container is created at T0. */
  readonly now?: number;
  readonly watchExit?: (runtime: FakeRuntime) => WatchExit;
}

interface Rig {
  readonly runtime: FakeRuntime;
  readonly live: LiveSessions;
  connect(project?: string | null): Promise<Client>;
  close(): Promise<void>;
}

class Client {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();
  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.frames.push(...this.decoder.push(chunk)));
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }
  hello(command: string, project: string | null = null): void {
    this.socket.write(encodeFrame(FrameType.Hello, JSON.stringify({ v: 1, command, tty: false, cols: 0, rows: 0, term: null, env: {}, project })));
  }
  text(type: number): string {
    return Buffer.concat(this.frames.filter((f) => f.type === type).map((f) => f.payload)).toString("utf8");
  }
  /** Resolves once `type` frames carry `text`: proof the far end is running. */
  until(type: number, text: string): Promise<void> {
    return new Promise((resolve) => {
      const look = (): void => {
        if (this.text(type).includes(text)) {
          this.socket.off("data", look);
          resolve();
        }
      };
      this.socket.on("data", look);
      setImmediate(look);
    });
  }
  /** Frame types in order, without the INFO progress a cold login may get. */
  types(): number[] {
    return this.frames.filter((f) => f.type !== FrameType.Info).map((f) => f.type);
  }
}

async function rig(opts: RigOptions = {}): Promise<Rig> {
  const runtime = new FakeRuntime(new Map(fakeImage()));
  const config: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: IMAGE, session: { ...DEFAULT_NODE_CONFIG.session, maxLifetimeMs: opts.maxLifetimeMs ?? 0 } };
  const environments = new Environments({ instance: "pst", runtime, podIdOf: testPodIds(), config: () => config, log: () => undefined, now: () => T0 });
  const live = new LiveSessions();
  const path = join(dir, `n${++seq}.sock`);
  // Projects web and api are registered with the node's default environment.
  const builds = new ImageBuilds({ builder: new FakeImageBuilder(runtime.images), logDir: dir, timeoutMs: () => 60_000, log: () => undefined });
  const registered = (name: string): ProjectRecord | null => (["web", "api"].includes(name) ? { version: 1, name, source: { kind: "default" }, podfile: null, notes: [] } : null);
  const planner = new Planner({ instance: "pst", config: () => config, project: async (name) => registered(name), builds });
  const deps = { runtime, environments, planner, config: () => config, log: () => undefined, audit: () => undefined, egress: async () => undefined, now: () => opts.now ?? T0, ...(opts.watchExit ? { watchExit: opts.watchExit(runtime) } : {}) };
  const server: Server = createServer((sock) => void live.track(handleSession(sock, "alice", deps), sock));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const clients: Socket[] = [];
  return {
    runtime,
    live,
    connect: async () => {
      const socket = connect(path);
      clients.push(socket);
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      return new Client(socket);
    },
    close: async () => {
      for (const s of clients) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The kernel's counter for the container: rises once the process has run (after the first read). */
class OomAfterFirstRead implements MemoryCgroup {
  private reads = 0;
  async read(): Promise<MemoryReading> {
    return { oomKills: this.reads++ === 0 ? 0 : 1, limitBytes: 64 * 1024 ** 2 };
  }
}

describe("session notices", SUITE, () => {
  it("tells the user a process died of the OOM killer, on stderr, then exits 137", async () => {
    const r = await rig({ watchExit: (runtime) => makeWatchExit({ runtime, instance: "pst", memory: new OomAfterFirstRead() }) });
    try {
      const c = await r.connect();
      c.hello("echo started; exit 137");
      await c.closed;
      assert.deepEqual(c.types(), [FrameType.Stdout, FrameType.Stderr, FrameType.Exit]);
      assert.equal(c.text(FrameType.Stdout), "started\n", "stdout keeps only the program's bytes");
      assert.equal(c.text(FrameType.Stderr), "podspawn: killed: out of memory (limit 64m)\n");
      assert.deepEqual(JSON.parse(c.text(FrameType.Exit)), { code: 137 });
    } finally {
      await r.close();
    }
  });

  it("adds nothing to an ordinary exit", async () => {
    const r = await rig({ watchExit: (runtime) => makeWatchExit({ runtime, instance: "pst", memory: new OomAfterFirstRead() }) });
    try {
      const c = await r.connect();
      c.hello("exit 3");
      await c.closed;
      assert.deepEqual(c.types(), [FrameType.Exit]);
    } finally {
      await r.close();
    }
  });

  it("warns a new session on stderr, before any output, when less than 10 minutes of max_lifetime remain", async () => {
    const r = await rig({ maxLifetimeMs: 9 * MIN, now: T0 + 2 * MIN });
    try {
      const c = await r.connect();
      c.hello("echo hi");
      await c.closed;
      assert.deepEqual(c.types(), [FrameType.Stderr, FrameType.Stdout, FrameType.Exit]);
      assert.equal(c.text(FrameType.Stderr), "podspawn: this environment will be removed in 7 min (max_lifetime)\n");
      assert.equal(c.text(FrameType.Stdout), "hi\n");
    } finally {
      await r.close();
    }
  });

  it("does not warn with 10 minutes or more left, nor without a max_lifetime", async () => {
    for (const opts of [{ maxLifetimeMs: 60 * MIN, now: T0 + 50 * MIN }, { maxLifetimeMs: 0, now: T0 + 500 * MIN }]) {
      const r = await rig(opts);
      try {
        const c = await r.connect();
        c.hello("echo hi");
        await c.closed;
        assert.deepEqual(c.types(), [FrameType.Stdout, FrameType.Exit], JSON.stringify(opts));
      } finally {
        await r.close();
      }
    }
  });

  it("prefixes our line and ends it with one newline (a terminal's output processing adds the CR)", () => {
    assert.equal(noticeText("x"), "podspawn: x\n");
  });
});

describe("LiveSessions", SUITE, () => {
  it("ends exactly the user's sessions of one project with one ERROR line each, and leaves the others", async () => {
    const r = await rig();
    try {
      const web = await r.connect();
      web.hello("cat", "web");
      const other = await r.connect();
      other.hello("cat", "api");
      // Each `cat` echoing a byte proves its session is running.
      for (const c of [web, other]) {
        c.socket.write(encodeFrame(FrameType.Stdin, "ping"));
        await c.until(FrameType.Stdout, "ping");
      }
      assert.equal(r.live.endFor("alice", "web", "your web environment was stopped by the node's admin"), 1);
      await web.closed;
      assert.equal(JSON.parse(web.text(FrameType.Error)).message, "your web environment was stopped by the node's admin");
      assert.equal(other.socket.destroyed, false, "the api session goes on");
      assert.equal(r.live.endFor("bob", null, "nope"), 0, "another user's name matches nothing");
      const n = await r.live.endAll("the session service on this node stopped", 5000);
      assert.equal(n, 1);
      await other.closed;
      assert.equal(JSON.parse(other.text(FrameType.Error)).message, "the session service on this node stopped");
      assert.equal(r.live.size, 0, "closed connections are forgotten");
    } finally {
      await r.close();
    }
  });
});

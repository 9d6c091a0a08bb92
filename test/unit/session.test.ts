import { testPodIds } from "./helpers/pod-ids.js";
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import type { ExecSession, ManagedContainer } from "../../agent/src/core/ports/container-runtime.js";
import type { ExecPlan } from "../../agent/src/core/container/exec-plan.js";
import { encodeFrame, FrameDecoder, FrameType, type Frame, type FrameTypeValue } from "../../agent/src/core/protocol/frames.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { Environments, type Environment } from "../../agent/src/daemon/environments/environments.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { handleSession, HELLO_TIMEOUT_MS } from "../../agent/src/daemon/session/session.js";
import { PROBE_EVERY_MS } from "../../agent/src/daemon/session/client-link.js";
import { FakeImageBuilder } from "../../agent/src/adapters/fake/fake-image-builder.js";
import { ImageBuilds } from "../../agent/src/daemon/projects/image-builds.js";
import { Planner } from "../../agent/src/daemon/projects/planner.js";
import { eventually, listenerPeak, turns } from "./helpers/slow-streams.js";
import { UserFacingError } from "../../agent/src/core/errors.js";
import { minimalImage } from "./helpers/fake-image.js";

const IMAGE = "podspawn/test:fake";
const GRACE = 60_000;
// No idle timeout or lifetime unless a test sets one (the shared-node defaults are 1 h and 24 h).
// No pool: these cases are about sessions (the pool's are in pool.test.ts).
const CONFIG: NodeConfig = { ...DEFAULT_NODE_CONFIG, image: IMAGE, pool: { ...DEFAULT_NODE_CONFIG.pool, size: 0, projectSize: 0 }, session: { ...DEFAULT_NODE_CONFIG.session, gracePeriodMs: GRACE, idleTimeoutMs: 0, maxLifetimeMs: 0 } };
/** Hang guard only: nothing here asserts a duration, so a slow machine cannot fail a test. */
const SUITE = { timeout: 60_000 };

const image = (): Map<string, Buffer> => minimalImage();

/** The fake engine, keeping each exec so a test can see how its process ended. */
class RecordingRuntime extends FakeRuntime {
  readonly execs: { plan: ExecPlan; session: ExecSession }[] = [];
  /** While set, exec waits for it: the window in which the client may already be sending input. */
  execGate: Promise<void> | null = null;
  execRequested = false;

  constructor() {
    super(new Map([[IMAGE, image()]]));
  }

  /** What tunnels asked the engine for, and what they got. */
  readonly addressQueries: { id: string; network: string; address: string | null }[] = [];

  /**
   * The container "is" this test's loopback: the fake's own answer decides whether there is an
   * address at all (running, on that network), and a local TCP server stands in for the service.
   */
  override async containerAddress(id: string, network: string): Promise<string | null> {
    const address = await super.containerAddress(id, network);
    this.addressQueries.push({ id, network, address });
    return address === null ? null : "127.0.0.1";
  }

  /** Set to make inspect fail the way a vanished engine does (a raw socket error, not ours). */
  engineVanished = false;

  override async inspectByName(name: string): Promise<ManagedContainer | null> {
    if (this.engineVanished) {
      this.down = true;
      throw new Error("connect ENOENT /var/run/docker.sock");
    }
    return super.inspectByName(name);
  }

  /** Signals the daemon sent to each exec'd process, in order. */
  readonly signals: NodeJS.Signals[][] = [];

  /** While set, create waits for it: a slow first start (image build, busy engine). */
  createGate: Promise<void> | null = null;
  createRequested = false;

  override async create(spec: Parameters<FakeRuntime["create"]>[0]): Promise<string> {
    this.createRequested = true;
    if (this.createGate) await this.createGate;
    return super.create(spec);
  }

  override async exec(id: string, plan: ExecPlan): Promise<ExecSession> {
    this.execRequested = true;
    if (this.execGate) await this.execGate;
    const inner = await super.exec(id, plan);
    const sent: NodeJS.Signals[] = [];
    this.signals.push(sent);
    const session: ExecSession = {
      ...inner,
      signal: (sig) => {
        sent.push(sig);
        return inner.signal(sig);
      },
    };
    this.execs.push({ plan, session });
    return session;
  }
}

/** The real table, counting what sessions take and give back (release clamps at 0, so a double release would not show). */
class CountingEnvironments extends Environments {
  acquired = 0;
  released = 0;

  override async acquire(user: string, project: string, want?: { readonly image?: string }): Promise<Environment> {
    const env = await super.acquire(user, project, want);
    this.acquired++;
    return env;
  }

  override release(env: Environment): void {
    this.released++;
    super.release(env);
  }
}

const dir = mkdtempSync(join(tmpdir(), "pst-session-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let socketSeq = 0;

interface Rig {
  readonly runtime: RecordingRuntime;
  readonly environments: CountingEnvironments;
  readonly events: DaemonEvent[];
  readonly audit: Record<string, unknown>[];
  readonly client: Client;
  /** The daemon's end of the connection. */
  readonly server: () => Socket;
  /** Resolves when the daemon's end has closed. */
  readonly serverClosed: Promise<void>;
  close(): Promise<void>;
}

class Client {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private waiters: (() => void)[] = [];
  sent = 0;

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.frames.push(...this.decoder.push(chunk));
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        for (const w of this.waiters.splice(0)) w();
        resolve();
      }),
    );
  }

  send(...frames: Buffer[]): void {
    const data = Buffer.concat(frames);
    this.sent += data.length;
    this.socket.write(data);
  }

  private isClosed = false;

  /**
   * Wait until the frames received so far satisfy `cond`. No deadline (the suite's timeout guards
   * a hang): once the daemon has closed the connection nothing more can come, so that fails at once.
   */
  async until(cond: (frames: readonly Frame[]) => boolean, what: string): Promise<void> {
    while (!cond(this.frames)) {
      if (this.isClosed) assert.fail(`the connection closed before ${what}; got ${show(this.frames)}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  bytes(type: FrameTypeValue): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === type).map((f) => f.payload));
  }

  text(type: FrameTypeValue): string {
    return Buffer.concat(this.frames.filter((f) => f.type === type).map((f) => f.payload)).toString("utf8");
  }
}

function show(frames: readonly Frame[]): string {
  return JSON.stringify(frames.map((f) => [f.type, f.payload.toString("utf8")]));
}

interface RigOptions {
  readonly idleMs?: number;
  readonly now?: () => number;
  readonly egress?: () => Promise<void>;
}

async function rig(opts: RigOptions = {}): Promise<Rig> {
  const runtime = new RecordingRuntime();
  const events: DaemonEvent[] = [];
  const audit: Record<string, unknown>[] = [];
  const log = (e: DaemonEvent): void => {
    events.push(e);
  };
  const config: NodeConfig = opts.idleMs === undefined ? CONFIG : { ...CONFIG, session: { ...CONFIG.session, idleTimeoutMs: opts.idleMs } };
  const environments = new CountingEnvironments({ instance: "pst", runtime, podIdOf: testPodIds(), config: () => config, log });
  // No projects registered: every session here is in the node's default environment.
  const builds = new ImageBuilds({ builder: new FakeImageBuilder(runtime.images), logDir: dir, timeoutMs: () => 60_000, log });
  const planner = new Planner({ instance: "pst", config: () => config, project: async () => null, builds });
  const path = join(dir, `s${++socketSeq}.sock`);
  let serverSocket: Socket | null = null;
  let serverClosed!: () => void;
  const closed = new Promise<void>((resolve) => (serverClosed = resolve));
  const server: Server = createServer((sock) => {
    serverSocket = sock;
    sock.once("close", () => serverClosed());
    handleSession(sock, "alice", { runtime, environments, planner, config: () => config, log, audit: (r) => audit.push(r), egress: opts.egress ?? (async () => undefined), now: opts.now });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const socket = connect(path);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const client = new Client(socket);
  return {
    runtime,
    environments,
    events,
    audit,
    client,
    server: () => {
      assert.ok(serverSocket, "the daemon accepted the connection");
      return serverSocket;
    },
    serverClosed: closed,
    close: async () => {
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function hello(command: string | null, over: Record<string, unknown> = {}): Buffer {
  return encodeFrame(FrameType.Hello, JSON.stringify({ v: 1, command, tty: false, cols: 0, rows: 0, term: null, env: {}, project: null, ...over }));
}

function exitOf(frames: readonly Frame[]): { code: number } | undefined {
  const f = frames.find((x) => x.type === FrameType.Exit);
  return f ? (JSON.parse(f.payload.toString("utf8")) as { code: number }) : undefined;
}

const hasExit = (frames: readonly Frame[]): boolean => frames.some((f) => f.type === FrameType.Exit);

describe("handleSession", SUITE, () => {
  it("relays the command's stdout and then its exit code", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo hi; exit 3"));
      await r.client.until(hasExit, "EXIT");
      // INFO (progress for a terminal) may precede; the session's own streams are exactly these.
      assert.deepEqual(
        r.client.frames.filter((f) => f.type !== FrameType.Info).map((f) => f.type),
        [FrameType.Stdout, FrameType.Exit],
      );
      assert.equal(r.client.text(FrameType.Stdout), "hi\n");
      assert.deepEqual(exitOf(r.client.frames), { code: 3 });
      await r.client.closed;
      assert.equal(r.environments.list()[0]?.sessions, 0);
    } finally {
      await r.close();
    }
  });

  it("says the environment is starting in one INFO frame on a cold login only", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo hi; exit 3"));
      await r.client.until(hasExit, "EXIT");
      const infos = r.client.frames.filter((f) => f.type === FrameType.Info);
      assert.equal(infos.length, 1);
      assert.match(infos[0]?.payload.toString("utf8") ?? "", /starting your default environment/);
      assert.equal(r.client.frames.indexOf(infos[0] as Frame), 0, "before any output");
    } finally {
      await r.close();
    }
    const warm = await rig();
    try {
      await warm.environments.acquire("alice", "default");
      warm.client.send(hello("echo hi; exit 3"));
      await warm.client.until(hasExit, "EXIT");
      assert.equal(warm.client.frames.filter((f) => f.type === FrameType.Info).length, 0, "a reattach is silent");
    } finally {
      await warm.close();
    }
  });

  it("refuses every session, cold and warm, with one line when the egress firewall is not in place, creating nothing", async () => {
    const refusal = new UserFacingError("egress-firewall", "this node cannot keep containers away from the cloud metadata service", "iptables: not found");
    const r = await rig({ egress: async () => Promise.reject(refusal) });
    try {
      r.client.send(hello("echo hi"));
      await r.client.until((f) => f.some((x) => x.type === FrameType.Error), "ERROR");
      assert.equal(JSON.parse(r.client.text(FrameType.Error)).message, refusal.message);
      assert.equal(r.client.bytes(FrameType.Stdout).length, 0);
      assert.equal(r.runtime.calls.create, 0, "no container created");
      assert.equal(r.runtime.execs.length, 0, "nothing run");
    } finally {
      await r.close();
    }
    const warm = await rig({ egress: async () => Promise.reject(refusal) });
    try {
      await warm.environments.acquire("alice", "default");
      warm.client.send(hello("echo hi"));
      await warm.client.until((f) => f.some((x) => x.type === FrameType.Error), "ERROR");
      assert.equal(JSON.parse(warm.client.text(FrameType.Error)).message, refusal.message);
      assert.equal(warm.runtime.execs.length, 0, "nothing run in the existing container");
    } finally {
      await warm.close();
    }
  });

  it("tells a warm login that the engine is down in one clear line, not as an internal error", async () => {
    const r = await rig();
    try {
      await r.environments.acquire("alice", "default");
      r.runtime.engineVanished = true;
      r.client.send(hello("echo hi"));
      await r.client.until((f) => f.some((x) => x.type === FrameType.Error), "ERROR");
      assert.match(r.client.text(FrameType.Error), /the container engine on this node is not answering/);
    } finally {
      await r.close();
    }
  });

  it("logs a failure with its catalog code: the engine's own, and internal for a bug", async () => {
    const down = await rig();
    try {
      await down.environments.acquire("alice", "default");
      down.runtime.engineVanished = true;
      down.client.send(hello("echo hi"));
      await down.client.until((f) => f.some((x) => x.type === FrameType.Error), "ERROR");
      assert.deepEqual(down.events.filter((e) => e.kind === "error").map((e) => (e.kind === "error" ? e.code : null)), ["docker-down"]);
    } finally {
      await down.close();
    }
    const bug = await rig();
    try {
      bug.runtime.exec = async () => {
        throw new TypeError("cannot read properties of undefined");
      };
      bug.client.send(hello("echo hi"));
      await bug.client.until((f) => f.some((x) => x.type === FrameType.Error), "ERROR");
      assert.match(bug.client.text(FrameType.Error), /internal error starting the session/);
      assert.deepEqual(bug.events.filter((e) => e.kind === "error").map((e) => (e.kind === "error" ? e.code : null)), ["internal"]);
    } finally {
      await bug.close();
    }
  });

  it("runs the command as the user's login shell with -c in their home", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo hi; exit 3"));
      await r.client.until(hasExit, "EXIT");
      const plan = r.runtime.execs[0]?.plan;
      assert.deepEqual(plan?.argv, ["/bin/bash", "-c", "echo hi; exit 3"]);
      assert.equal(plan?.user, "101001:101001");
      assert.equal(plan?.workdir, "/home/alice");
      assert.equal(plan?.tty, false);
    } finally {
      await r.close();
    }
  });

  it("keeps stderr in its own frames, apart from stdout", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo out; echo err >&2; echo more; exit 0"));
      await r.client.until(hasExit, "EXIT");
      assert.equal(r.client.text(FrameType.Stdout), "out\nmore\n");
      assert.equal(r.client.text(FrameType.Stderr), "err\n");
      assert.deepEqual(exitOf(r.client.frames), { code: 0 });
    } finally {
      await r.close();
    }
  });

  it("passes STDIN frames and STDIN_EOF through to cat", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo ready; cat; echo done"));
      await r.client.until((fs) => fs.some((f) => f.type === FrameType.Stdout), "ready");
      r.client.send(encodeFrame(FrameType.Stdin, "abc"));
      await r.client.until(() => r.client.text(FrameType.Stdout) === "ready\nabc", "the echo of abc");
      assert.equal(hasExit(r.client.frames), false, "cat waits for more input");
      r.client.send(encodeFrame(FrameType.Stdin, "def\n"), encodeFrame(FrameType.StdinEof));
      await r.client.until(hasExit, "EXIT");
      assert.equal(r.client.text(FrameType.Stdout), "ready\nabcdef\ndone\n");
      assert.deepEqual(exitOf(r.client.frames), { code: 0 });
    } finally {
      await r.close();
    }
  });

  it("does not lose input frames that arrive before the exec is ready", async () => {
    const r = await rig();
    let open!: () => void;
    r.runtime.execGate = new Promise<void>((resolve) => {
      open = resolve;
    });
    try {
      r.client.send(hello("cat"));
      await eventually(() => r.runtime.execRequested);
      r.client.send(encodeFrame(FrameType.Stdin, "early "), encodeFrame(FrameType.Stdin, "bird"), encodeFrame(FrameType.StdinEof));
      await eventually(() => r.server().bytesRead === r.client.sent);
      assert.equal(r.runtime.execs.length, 0, "the frames arrived while the exec was not ready");
      open();
      await r.client.until(hasExit, "EXIT");
      assert.equal(r.client.text(FrameType.Stdout), "early bird");
      assert.deepEqual(exitOf(r.client.frames), { code: 0 });
    } finally {
      open();
      await r.close();
    }
  });

  it("answers an invalid HELLO with one ERROR frame naming PODSPAWN_PROJECT and creates no container", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo hi", { project: "../x" }));
      await r.client.closed;
      assert.equal(r.client.frames.length, 1, show(r.client.frames));
      const [f] = r.client.frames;
      assert.equal(f?.type, FrameType.Error);
      const { message } = JSON.parse(f?.payload.toString("utf8") ?? "{}") as { message: string };
      assert.match(message, /PODSPAWN_PROJECT/);
      assert.equal(r.runtime.calls.create, 0);
      assert.equal(r.runtime.containers.size, 0);
      assert.equal(r.runtime.networks.size, 0);
      assert.deepEqual(r.environments.list(), []);
    } finally {
      await r.close();
    }
  });

  it("releases the session and hangs up the process when the client goes away mid-cat", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo ready; cat"));
      await r.client.until((fs) => fs.some((f) => f.type === FrameType.Stdout), "ready");
      const env = r.environments.list()[0];
      assert.equal(env?.sessions, 1);
      const exec = r.runtime.execs[0]?.session;
      assert.ok(exec);
      r.client.socket.destroy();
      assert.equal(await exec.exited, 129, "ended by SIGHUP");
      await eventually(() => env?.sessions === 0);
      assert.ok(r.events.some((e) => e.kind === "grace-scheduled" && e.user === "alice"));
      assert.ok(r.events.some((e) => e.kind === "session-end" && e.reason === "disconnected"));
      assert.ok(r.runtime.containers.has(env?.containerId ?? ""), "removal waits for the grace period");
    } finally {
      await r.close();
    }
  });

  it("ignores a second HELLO on the same connection", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo hi; exit 3"), hello("echo second; exit 5"));
      await r.client.until(hasExit, "EXIT");
      await r.client.closed;
      assert.equal(r.client.text(FrameType.Stdout), "hi\n");
      assert.deepEqual(exitOf(r.client.frames), { code: 3 });
      assert.equal(r.runtime.execs.length, 1);
      assert.equal(r.audit.filter((a) => a["event"] === "session-start").length, 1);
      assert.equal(r.environments.list()[0]?.sessions, 0);
    } finally {
      await r.close();
    }
  });

  it("ignores STDIN after STDIN_EOF instead of failing the daemon", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo ready; cat; echo done; exit 4"));
      await r.client.until((fs) => fs.some((f) => f.type === FrameType.Stdout), "ready");
      r.client.send(encodeFrame(FrameType.StdinEof), encodeFrame(FrameType.Stdin, "late"));
      await r.client.until(hasExit, "EXIT");
      assert.equal(r.client.text(FrameType.Stdout), "ready\ndone\n");
      assert.deepEqual(exitOf(r.client.frames), { code: 4 });
      // Give a deferred stream error the chance to surface as an uncaught exception.
      await turns();
    } finally {
      await r.close();
    }
  });

  it("stops the process when a malformed frame ends the session", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo ready; cat"));
      await r.client.until((fs) => fs.some((f) => f.type === FrameType.Stdout), "ready");
      const exec = r.runtime.execs[0]?.session;
      assert.ok(exec);
      r.client.send(encodeFrame(FrameType.Resize, "{not json"));
      await r.client.until((fs) => fs.some((f) => f.type === FrameType.Error), "ERROR");
      await eventually(() => r.environments.list()[0]?.sessions === 0);
      const code = await exec.exited.catch((err: unknown) => err);
      assert.equal(typeof code, "number", String(code));
    } finally {
      await r.close();
    }
  });
});

/** A loopback service standing in for a port in the container: upper-cases what it gets, says bye at EOF. */
async function service(): Promise<{ port: number; connections: Socket[]; close(): Promise<void> }> {
  const connections: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    connections.push(s);
    s.on("data", (d: Buffer) => s.write(d.toString().toUpperCase()));
    s.on("end", () => s.end("bye\n"));
    s.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    connections,
    close: async () => {
      for (const c of connections) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("handleSession: podspawn-tunnel PORT", SUITE, () => {
  it("relays bytes to the port in the user's own container and back, then exits 0 when it closes", async () => {
    const r = await rig();
    const svc = await service();
    try {
      r.client.send(hello(`podspawn-tunnel ${svc.port}`), encodeFrame(FrameType.Stdin, "hello"));
      await r.client.until(() => r.client.text(FrameType.Stdout) === "HELLO", "the upper-cased echo");
      const env = r.environments.list()[0];
      assert.equal(env?.sessions, 1, "an open tunnel counts as a session");
      assert.deepEqual(r.runtime.addressQueries.map((q) => [q.id, q.network]), [[env?.containerId, "pst.alice"]], "asked for alice's own container on alice's own network");
      assert.match(r.runtime.addressQueries[0]?.address ?? "", /^198\.1[89]\./, "the fake had an address for it, in the block of alice's network");
      assert.equal(r.runtime.execs.length, 0, "no process runs for a tunnel");
      r.client.send(encodeFrame(FrameType.StdinEof));
      await r.client.until(hasExit, "EXIT");
      assert.equal(r.client.text(FrameType.Stdout), "HELLObye\n");
      assert.deepEqual(exitOf(r.client.frames), { code: 0 });
      await r.client.closed;
      await eventually(() => env?.sessions === 0);
      const start = r.audit.find((a) => a["event"] === "session-start");
      assert.equal(start?.["kind"], "tunnel");
      assert.equal(start?.["port"], svc.port);
      assert.ok(r.events.some((e) => e.kind === "session-start" && e.exec === "tunnel" && e.port === svc.port));
    } finally {
      await svc.close();
      await r.close();
    }
  });

  it("answers a port nobody listens on with one ERROR line and releases the session", async () => {
    const r = await rig();
    const svc = await service();
    const port = svc.port;
    await svc.close();
    try {
      r.client.send(hello(`podspawn-tunnel ${port}`));
      await r.client.closed;
      const errors = r.client.frames.filter((f) => f.type === FrameType.Error);
      assert.equal(errors.length, 1, show(r.client.frames));
      assert.deepEqual(JSON.parse(errors[0]?.payload.toString("utf8") ?? "{}"), { message: `nothing is listening on port ${port} in your default environment` });
      assert.equal(hasExit(r.client.frames), false);
      await eventually(() => r.environments.list()[0]?.sessions === 0);
      assert.ok(r.audit.some((a) => a["event"] === "tunnel-refused" && a["port"] === port));
    } finally {
      await r.close();
    }
  });

  it("closes the connection into the container when the client goes away", async () => {
    const r = await rig();
    const svc = await service();
    try {
      r.client.send(hello(`podspawn-tunnel ${svc.port}`), encodeFrame(FrameType.Stdin, "x"));
      await r.client.until(() => r.client.text(FrameType.Stdout) === "X", "the echo");
      const inside = svc.connections[0];
      assert.ok(inside);
      const gone = new Promise<void>((resolve) => inside.once("close", () => resolve()));
      r.client.socket.destroy();
      await gone;
      await eventually(() => r.environments.list()[0]?.sessions === 0);
      assert.ok(r.events.some((e) => e.kind === "session-end" && e.reason === "disconnected"));
    } finally {
      await svc.close();
      await r.close();
    }
  });

  it("runs `podspawn-tunnel 08080` (not the reserved shape) as an ordinary command", async () => {
    const r = await rig();
    try {
      r.client.send(hello("podspawn-tunnel 08080"));
      await r.client.until(hasExit, "EXIT");
      assert.deepEqual(r.runtime.execs[0]?.plan.argv, ["/bin/bash", "-c", "podspawn-tunnel 08080"]);
      assert.deepEqual(r.runtime.addressQueries, []);
    } finally {
      await r.close();
    }
  });
});

/** 0, 1, 2 ... 250, 0, 1 ...: a pattern in which a lost, doubled or reordered chunk shows. */
function pattern(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = i % 251;
  return b;
}

function sendStdin(client: Client, data: Buffer, frameBytes = 64 * 1024): void {
  for (let off = 0; off < data.length; off += frameBytes) client.send(encodeFrame(FrameType.Stdin, data.subarray(off, off + frameBytes)));
}

describe("handleSession: backpressure", SUITE, () => {
  it("holds input that arrives before the process exists by pausing the socket, not in a growing queue", async () => {
    const r = await rig();
    let open!: () => void;
    r.runtime.execGate = new Promise<void>((resolve) => {
      open = resolve;
    });
    try {
      r.client.send(hello("cat"));
      await eventually(() => r.runtime.execRequested);
      const data = pattern(4 << 20);
      sendStdin(r.client, data);
      r.client.send(encodeFrame(FrameType.StdinEof));
      await eventually(() => r.server().isPaused() || r.server().bytesRead >= r.client.sent);
      await turns(50);
      const read = r.server().bytesRead;
      assert.equal(r.server().isPaused(), true, "the daemon stopped reading the client");
      assert.ok(read < 1 << 20, `read ${read} of ${r.client.sent} bytes before there was a process to take them`);
      open();
      await r.client.until(hasExit, "EXIT");
      assert.ok(r.client.bytes(FrameType.Stdout).equals(data), "every byte reached the process, in order, once");
      assert.deepEqual(exitOf(r.client.frames), { code: 0 });
    } finally {
      open();
      await r.close();
    }
  });

  it("pauses the process's output while the client does not read, with one drain wait, and loses nothing", async () => {
    const r = await rig();
    try {
      r.client.send(hello("echo ready; cat"));
      await r.client.until((fs) => fs.some((f) => f.type === FrameType.Stdout), "ready");
      const exec = r.runtime.execs[0]?.session;
      assert.ok(exec);
      const peak = listenerPeak(r.server(), "drain");
      r.client.socket.pause();
      const data = pattern(4 << 20);
      sendStdin(r.client, data);
      await eventually(() => exec.stdout.isPaused());
      assert.equal(peak(), 1, "one drain listener on the client socket for the stall");
      r.client.send(encodeFrame(FrameType.StdinEof));
      r.client.socket.resume();
      await r.client.until(hasExit, "EXIT");
      assert.ok(r.client.bytes(FrameType.Stdout).equals(Buffer.concat([Buffer.from("ready\n"), data])));
    } finally {
      await r.close();
    }
  });
});

describe("handleSession: resources of a client that says nothing or went away", SUITE, () => {
  it("ends a connection that sends no HELLO within 10 s with one ERROR line, and acquires nothing", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const r = await rig();
    try {
      await turns();
      t.mock.timers.tick(HELLO_TIMEOUT_MS - 1);
      await turns();
      assert.equal(r.client.frames.length, 0, "still waiting just before the timeout");
      t.mock.timers.tick(1);
      await r.serverClosed;
      assert.deepEqual(
        r.client.frames.map((f) => [f.type, JSON.parse(f.payload.toString("utf8")) as unknown]),
        [[FrameType.Error, { message: "hello: none within 10 s of connecting" }]],
      );
      assert.equal(r.environments.acquired, 0);
      assert.equal(r.runtime.calls.create, 0);
    } finally {
      await r.close();
    }
  });

  it("does not time out a session whose HELLO came", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const r = await rig();
    try {
      r.client.send(hello("echo ready; cat"));
      await r.client.until((fs) => fs.some((f) => f.type === FrameType.Stdout), "ready");
      t.mock.timers.tick(HELLO_TIMEOUT_MS * 3);
      r.client.send(encodeFrame(FrameType.Stdin, "x"), encodeFrame(FrameType.StdinEof));
      await r.client.until(hasExit, "EXIT");
      assert.equal(r.client.text(FrameType.Stdout), "ready\nx");
    } finally {
      await r.close();
    }
  });

  it("notices a client that went away while the daemon held its input, and gives the environment back", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const r = await rig();
    let open!: () => void;
    r.runtime.execGate = new Promise<void>((resolve) => (open = resolve));
    try {
      r.client.send(hello("cat"));
      await eventually(() => r.runtime.execRequested);
      sendStdin(r.client, pattern(1 << 20));
      await eventually(() => r.server().isPaused());
      r.client.socket.destroy();
      await turns(50);
      assert.equal(r.server().destroyed, false, "a paused socket does not see the close by itself");
      t.mock.timers.tick(PROBE_EVERY_MS);
      await r.serverClosed;
      assert.equal(r.environments.released, 1, "the session ended and gave the environment back");
    } finally {
      open();
      await r.close();
    }
  });

  it("holds input sent during a slow first create by pausing the socket, and delivers it once the process runs", async () => {
    const r = await rig();
    let open!: () => void;
    r.runtime.createGate = new Promise<void>((resolve) => (open = resolve));
    try {
      r.client.send(hello("cat"));
      await eventually(() => r.runtime.createRequested);
      const data = pattern(8 << 20);
      sendStdin(r.client, data);
      r.client.send(encodeFrame(FrameType.StdinEof));
      await eventually(() => r.server().isPaused() || r.server().bytesRead >= r.client.sent);
      await turns(50);
      assert.equal(r.server().isPaused(), true, "the daemon stopped reading the client");
      assert.ok(r.server().bytesRead < 1 << 20, `read ${r.server().bytesRead} of ${r.client.sent} bytes while the container was being created`);
      open();
      await r.client.until(hasExit, "EXIT");
      assert.ok(r.client.bytes(FrameType.Stdout).equals(data), "every byte reached the process, in order, once");
    } finally {
      open();
      await r.close();
    }
  });
});

describe("handleSession: idle timeout", SUITE, () => {
  it("closes a session without input or output for idle_timeout with one ERROR line, and hangs up the process", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    let clock = 0;
    const r = await rig({ idleMs: 60_000, now: () => clock });
    try {
      r.client.send(hello("echo ready; cat"));
      await r.client.until((fs) => fs.some((f) => f.type === FrameType.Stdout), "ready");
      const exec = r.runtime.execs[0]?.session;
      assert.ok(exec);
      clock += 45_000;
      t.mock.timers.tick(15_000);
      r.client.send(encodeFrame(FrameType.Stdin, "still here\n"));
      await r.client.until(() => r.client.text(FrameType.Stdout) === "ready\nstill here\n", "the echo");
      clock += 45_000;
      t.mock.timers.tick(15_000);
      assert.equal(r.client.frames.some((f) => f.type === FrameType.Error), false, "input 45 s ago keeps it open");
      clock += 15_000;
      t.mock.timers.tick(15_000);
      await r.client.closed;
      const errors = r.client.frames.filter((f) => f.type === FrameType.Error);
      assert.deepEqual(
        errors.map((f) => JSON.parse(f.payload.toString("utf8")) as unknown),
        [{ message: "session closed after 60 s without input or output (the node's idle timeout)" }],
      );
      assert.equal(await exec.exited, 129, "the process got SIGHUP");
      assert.equal(r.environments.released, 1);
      assert.ok(r.events.some((e) => e.kind === "session-end" && e.reason === "idle-timeout"));
    } finally {
      await r.close();
    }
  });
});

const RACERS = ["eof", "disconnect", "bad-frame", "idle"] as const;
type Racer = (typeof RACERS)[number];

describe("Session.end", SUITE, () => {
  it("runs its effects exactly once, whatever the order of the process's exit, a disconnect, a bad frame, the idle timeout and the exec's creation", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.subarray([...RACERS]), fc.nat({ max: 12 }), async (s, racers, gap) => {
        let clock = 0;
        const r = await rig({ idleMs: 1_000, now: () => clock });
        // The exec's creation is one of the racers: the scheduler decides when the engine answers.
        r.runtime.execGate = s.schedule(Promise.resolve(), "exec created");
        const fire: Record<Racer, () => void> = {
          eof: () => r.client.send(encodeFrame(FrameType.StdinEof)),
          disconnect: () => r.client.socket.destroy(),
          "bad-frame": () => r.client.send(encodeFrame(FrameType.Resize, "{not json")),
          idle: () => {
            clock += 5_000;
            t.mock.timers.tick(1_000);
          },
        };
        for (const racer of racers) void s.schedule(Promise.resolve(racer), racer).then(() => fire[racer]());
        try {
          r.client.send(hello("echo ready; cat"));
          while (s.count() > 0) {
            await s.waitOne();
            await turns(gap);
          }
          r.client.socket.destroy(); // whatever still runs ends with the client going
          await r.serverClosed;
          const exec = r.runtime.execs[0]?.session;
          if (exec) await exec.exited; // the process never outlives its session
          await eventually(() => r.environments.released >= r.environments.acquired);
          await turns();

          assert.equal(r.environments.released, r.environments.acquired, "the environment is given back exactly once");
          assert.ok(r.environments.list().every((e) => e.sessions === 0));
          const starts = r.events.filter((e) => e.kind === "session-start");
          const ends = r.events.filter((e) => e.kind === "session-end");
          assert.ok(starts.length <= 1);
          assert.equal(ends.length, starts.length, "one end event for a started session, none otherwise");
          assert.equal(r.audit.filter((a) => a["event"] === "session-end").length, ends.length, "the audit says the same");
          const finals = r.client.frames.filter((f) => f.type === FrameType.Exit || f.type === FrameType.Error);
          assert.ok(finals.length <= 1, `one final frame at most: ${show(r.client.frames)}`);
          if (finals[0]) assert.equal(r.client.frames.at(-1), finals[0], "nothing after the final frame");
          const hups = (r.runtime.signals[0] ?? []).filter((sig) => sig === "SIGHUP").length;
          assert.ok(hups <= 1, "hung up at most once");
          const end = ends[0];
          if (end?.kind === "session-end" && end.reason === "exited") assert.equal(hups, 0, "a process that exited is not signalled");
          if (finals[0]?.type === FrameType.Exit) assert.equal(end?.kind === "session-end" && end.reason, "exited");
        } finally {
          await r.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});

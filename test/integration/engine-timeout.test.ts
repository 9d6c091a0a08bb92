/**
 * A hung container engine, for real: a unix socket that accepts connections and never answers
 * (or answers the headers of an archive read and never sends its body), used as the Docker
 * socket of a DockerRuntime. Every port call must fail with the one-line EngineTimeout, name the
 * call for the admin, and close its connection.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerRuntime } from "../../agent/src/adapters/docker/docker-runtime.js";
import { EngineTimeout } from "../../agent/src/adapters/docker/engine-deadline.js";
import { containerSpec, networkSpec } from "../../agent/src/core/container/container-spec.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";

interface HungEngine {
  readonly path: string;
  /** Connections accepted and still open. */
  open(): number;
  accepted(): number;
  close(): Promise<void>;
}

/** `answer` decides what a connection gets once its request head has arrived (default: nothing, ever). */
async function hungEngine(dir: string, name: string, answer: (head: string, socket: Socket) => void = () => undefined): Promise<HungEngine> {
  const path = join(dir, name);
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    let head = "";
    socket.on("data", (d: Buffer) => {
      const before = head.includes("\r\n\r\n");
      head += d.toString("latin1");
      if (!before && head.includes("\r\n\r\n")) answer(head, socket);
    });
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    open: () => sockets.size,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** All connections the client opened are closed again (the client gave up on them). */
async function allClosed(engine: HungEngine): Promise<boolean> {
  for (let i = 0; i < 100 && engine.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return engine.open() === 0;
}

const TIMEOUTS = { callMs: 400, inspectMs: 200 };
let dir: string;
let silent: HungEngine;
let headersOnly: HungEngine;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "podspawn-hung-engine-"));
  silent = await hungEngine(dir, "silent.sock");
  // Headers of a successful archive read, then silence: the body must have a deadline too.
  headersOnly = await hungEngine(dir, "headers.sock", (head, socket) => {
    if (head.startsWith("GET ") && head.includes("/archive?")) socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n");
  });
});
after(async () => {
  await silent?.close();
  await headersOnly?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("DockerRuntime against a hung engine", () => {
  const spec = containerSpec("podspawn-hung", "alice", "default", { ...DEFAULT_NODE_CONFIG, image: "podspawn/busybox:test" });
  const calls: [string, string, (r: DockerRuntime) => Promise<unknown>][] = [
    ["ping", "ping", (r) => r.ping()],
    ["inspectByName", "container inspect", (r) => r.inspectByName(spec.name)],
    ["listManaged", "container list", (r) => r.listManaged("podspawn-hung")],
    ["imageId", "image inspect", (r) => r.imageId(spec.image)],
    ["create", "container create", (r) => r.create(spec)],
    ["start", "container start", (r) => r.start("abc")],
    ["remove", "container remove", (r) => r.remove("abc")],
    ["ensureNetwork", "network list", (r) => r.ensureNetwork(networkSpec("podspawn-hung", "alice"))],
    ["engineNetworks", "network list", (r) => r.engineNetworks()],
    // It asks which containers are attached first (the engine would remove a network of stopped ones).
    ["removeNetwork", "container list", (r) => r.removeNetwork("podspawn-hung.alice")],
    ["listVolumes", "volume list", (r) => r.listVolumes("podspawn-hung")],
    ["readFiles", "archive read", (r) => r.readFiles("abc", ["/etc/passwd"])],
    ["pathExists", "archive stat", (r) => r.pathExists("abc", "/bin/bash")],
    // A running container is written through /proc without the archive: the inspect that finds its pid comes first.
    ["writeFiles", "container inspect", (r) => r.writeFiles("abc", [{ path: "x", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("x") }])],
    ["containerAddress", "container inspect", (r) => r.containerAddress("abc", "net")],
    ["exec", "exec create", (r) => r.exec("abc", { kind: "command", argv: ["/bin/true"], tty: false, env: [], user: "0:0", workdir: "/" })],
  ];

  for (const [method, call, run] of calls) {
    // The test's own timeout turns a missing deadline into a failure instead of a hung suite.
    it(`${method}: fails with the one-line engine timeout naming "${call}" for the admin, and closes its connection`, { timeout: 10_000 }, async () => {
      const reported: string[] = [];
      const runtime = new DockerRuntime({ socketPath: silent.path, timeouts: () => TIMEOUTS, onTimeout: (c) => reported.push(c) });
      const acceptedBefore = silent.accepted();
      await assert.rejects(run(runtime), (err: unknown) => {
        assert.ok(err instanceof EngineTimeout, `expected EngineTimeout, got ${String(err)}`);
        assert.match(err.message, /^the container engine on this node did not answer within (200|400) ms$/);
        assert.equal(err.call, call);
        assert.match(err.detail ?? "", new RegExp(`^${call} \\((GET|POST|PUT|HEAD|DELETE) /`));
        return true;
      });
      assert.ok(silent.accepted() > acceptedBefore, "the request reached the (hung) engine");
      assert.deepEqual(reported, [call]);
      assert.ok(await allClosed(silent), "no connection is left open");
    });
  }

  it("gives the body of an archive read its own deadline when the engine stops after the headers", { timeout: 10_000 }, async () => {
    const runtime = new DockerRuntime({ socketPath: headersOnly.path, timeouts: () => TIMEOUTS });
    await assert.rejects(runtime.readFiles("abc", ["/etc/passwd"]), (err: unknown) => err instanceof EngineTimeout && /\(body\)/.test(err.detail ?? ""));
    assert.ok(await allClosed(headersOnly));
  });
});

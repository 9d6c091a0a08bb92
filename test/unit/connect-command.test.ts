import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, Socket, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { dialTcp, makeDial, relay } from "../../agent/src/adapters/net/tcp-relay.js";
import { makeConnectCommand } from "../../agent/src/cli/commands/client/connect.js";
import { main } from "../../agent/src/cli/main.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { freshEd25519 } from "./helpers/test-keys.js";

/** A loopback server that answers "node <name>" and then echoes upper-cased input until EOF. */
function nodeServer(name: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer({ allowHalfOpen: true }, (s: Socket) => {
      s.write(`node ${name}\n`);
      s.on("data", (d: Buffer) => s.write(d.toString().toUpperCase()));
      s.on("end", () => s.end("bye\n"));
    });
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

/** A port nothing listens on: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const { server, port } = await nodeServer("gone");
  await new Promise((r) => server.close(r));
  return port;
}

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

let dir: string;
const servers: Server[] = [];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "podspawn-connect-"));
});
after(async () => {
  for (const s of servers) s.close();
  await rm(dir, { recursive: true, force: true });
});

const hostKey = freshEd25519().split(" ").slice(0, 2).join(" ");
async function manifestFile(nodes: { name: string; port: number }[]): Promise<string> {
  const file = join(dir, `m-${nodes.map((n) => n.name).join("-")}.json`);
  const body = { version: 1, fleet: "dev", domain: "pod", nodes: nodes.map((n) => ({ name: n.name, address: "127.0.0.1", port: n.port, hostKeys: [hostKey] })) };
  await writeFile(file, JSON.stringify(body));
  return file;
}

async function run(argv: string[], input = "") {
  const stdout = new Sink();
  const stderr = new Sink();
  // Only failures go through here: main's connect would relay process.stdin, this never gets that far.
  void input;
  const code = await main(["connect", ...argv], { stdout, stderr, env: { HOME: dir }, layout: layoutFor() });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("podspawn connect", () => {
  it("relays to the rendezvous choice; stdout carries only the node's bytes", async () => {
    const a = await nodeServer("na");
    const b = await nodeServer("nb");
    servers.push(a.server, b.server);
    const file = await manifestFile([{ name: "na", port: a.port }, { name: "nb", port: b.port }]);
    // `printf 'alice\0work\0na' | sha256sum` starts 2fea16a0..., for nb fa6b0fca...: nb scores higher.
    const want = "nb";
    const stdout = new Sink();
    const stderr = new Sink();
    const stdin = new PassThrough();
    stdin.end("hello\n");
    const code = await makeConnectCommand({ stdin }).run(["alice", "work.pod", "22", "--manifest", file], { stdout, stderr, env: { HOME: dir }, layout: layoutFor() });
    assert.equal(code, 0, stderr.text);
    assert.equal(stdout.text, `node ${want}\nHELLO\nbye\n`);
    assert.equal(stderr.text, "");
  });

  it("fails over to the next node in rendezvous order, with one line on stderr", async () => {
    const live = await nodeServer("up");
    servers.push(live.server);
    const deadPort = await closedPort();
    // Project p3's first choice is the dead node: `printf 'alice\0p3\0down' | sha256sum` starts
    // e278282a..., `printf 'alice\0p3\0up' | sha256sum` starts 5b1a8da2...
    const project = "p3";
    const file = await manifestFile([{ name: "down", port: deadPort }, { name: "up", port: live.port }]);
    const stdout = new Sink();
    const stderr = new Sink();
    const stdin = new PassThrough();
    stdin.end("x");
    const code = await makeConnectCommand({ stdin }).run(["alice", `${project}.pod`, "22", "--manifest", file], { stdout, stderr, env: { HOME: dir }, layout: layoutFor() });
    assert.equal(code, 0);
    assert.equal(stdout.text, "node up\nXbye\n");
    assert.match(stderr.text, /^podspawn connect: connected to node up \(127\.0\.0\.1:\d+\); skipped down \(127\.0\.0\.1:\d+\): ECONNREFUSED\n$/);
  });

  it("exits non-zero with one line listing every node tried when none answers", async () => {
    const file = await manifestFile([{ name: "x1", port: await closedPort() }, { name: "x2", port: await closedPort() }]);
    const r = await run(["alice", "work.pod", "22", "--manifest", file], "");
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.split("\n").length, 2, r.stderr);
    assert.match(r.stderr, /^podspawn connect: no node of fleet dev answered for alice@work\.pod \(tried x\d \(127\.0\.0\.1:\d+\): ECONNREFUSED; x\d \(127\.0\.0\.1:\d+\): ECONNREFUSED\)\n$/);
  });

  const bad: [string, string[], RegExp][] = [
    ["a bad user", ["Alice;id", "work.pod", "22"], /USER: "Alice;id" is not a valid username/],
    ["a bad host", ["alice", "a;b.pod", "22"], /HOST: "a;b\.pod" contains characters/],
    ["a host of another domain", ["alice", "work.other", "22"], /"work\.other" is not a \.pod name/],
    ["a bad port", ["alice", "work.pod", "0x16"], /PORT: "0x16" is not a port/],
    ["a missing argument", ["alice", "work.pod"], /expected USER HOST PORT/],
    ["an unlisted project (catch-all block)", ["alice", "other.pod", "22", "--refuse-unlisted"], /other\.pod: project "other" is not set up/],
  ];
  for (const [what, argv, message] of bad) {
    it(`refuses ${what} with one line and nothing on stdout`, async () => {
      const file = await manifestFile([{ name: "na", port: 1 }]);
      const r = await run([...argv, "--manifest", file], "");
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    });
  }
});

describe("tcp relay", () => {
  it("reports a refused connection by its errno code", async () => {
    await assert.rejects(dialTcp("127.0.0.1", await closedPort(), 1000), /^Error: ECONNREFUSED$/);
  });

  it("gives up on a connection attempt with no answer at its timeout, and destroys the socket", { timeout: 5000 }, async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    // Only loopback is usable here, where nothing hangs; a socket that never connects stands in.
    let destroyed = false;
    const pending = new Socket();
    pending.on("close", () => (destroyed = true));
    let settled = false;
    const dialing = makeDial(() => pending)("127.0.0.9", 22, 100).finally(() => (settled = true));
    t.mock.timers.tick(99);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, "still dialing 1 ms before the timeout");
    assert.equal(pending.destroyed, false);
    t.mock.timers.tick(1);
    await assert.rejects(dialing, /no connection within 100 ms/);
    await new Promise((r) => setImmediate(r));
    assert.equal(destroyed, true);
  });

  it("half-closes: input EOF reaches the node, whose reply still arrives", async () => {
    const n = await nodeServer("hc");
    servers.push(n.server);
    const socket = await dialTcp("127.0.0.1", n.port, 1000);
    const input = new PassThrough();
    const out = new Sink();
    const done = relay(socket, input, out);
    input.end("abc");
    const r = await done;
    assert.equal(out.text, "node hc\nABCbye\n");
    assert.deepEqual(r, { sent: 3, received: out.text.length });
  });

  it("ends when the node closes, even if input stays open", async () => {
    const server = createServer((s) => s.end("closing\n"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    const socket = await dialTcp("127.0.0.1", (server.address() as { port: number }).port, 1000);
    const input = new PassThrough(); // never ended
    const out = new Sink();
    const r = await relay(socket, input, out);
    assert.equal(out.text, "closing\n");
    assert.equal(r.received, 8);
  });
});

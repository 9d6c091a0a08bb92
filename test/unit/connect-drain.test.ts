import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, Socket, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { makeConnectCommand } from "../../agent/src/cli/commands/client/connect.js";
import { drainedLast, firstLine, isDrainingBanner } from "../../agent/src/core/fleet/ssh-banner.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { freshEd25519 } from "./helpers/test-keys.js";

/**
 * Node order for user alice, project p3, by hand (`printf 'alice\0p3\0<node>' | sha256sum`):
 * down e278282a... > up 5b1a8da2..., so "down" is the first choice.
 */
const USER = "alice";
const PROJECT = "p3";

const DRAINING = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 podspawn-draining\r\n";
const OPEN = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

/** A node that sends `banner`, then echoes upper-cased input; `silent` sends nothing at all. */
function node(banner: string | null): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  return new Promise((resolve) => {
    const server = createServer({ allowHalfOpen: true }, (s: Socket) => {
      accepted++;
      if (banner !== null) s.write(banner);
      s.on("data", (d: Buffer) => s.write(d.toString().toUpperCase()));
      s.on("end", () => s.end());
      s.on("error", () => undefined);
    });
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port, accepted: () => accepted }));
  });
}

async function closedPort(): Promise<number> {
  const n = await node(OPEN);
  await new Promise((r) => n.server.close(r));
  return n.port;
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
  dir = await mkdtemp(join(tmpdir(), "podspawn-connect-drain-"));
});
after(async () => {
  for (const s of servers) s.close();
  await rm(dir, { recursive: true, force: true });
});

const hostKey = freshEd25519().split(" ").slice(0, 2).join(" ");

async function connect(nodes: { name: string; port: number; drained?: boolean }[], extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(dir, `m-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify({ version: 1, fleet: "dev", domain: "pod", nodes: nodes.map((n) => ({ name: n.name, address: "127.0.0.1", port: n.port, hostKeys: [hostKey], ...(n.drained ? { drained: true } : {}) })) }));
  const stdout = new Sink();
  const stderr = new Sink();
  const stdin = new PassThrough();
  stdin.end("hi\n");
  const code = await makeConnectCommand({ stdin }).run([USER, `${PROJECT}.pod`, "22", "--manifest", file, ...extra], { stdout, stderr, env: { HOME: dir }, layout: layoutFor() });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("connect and draining nodes", () => {
  it("skips a node whose SSH banner says it is draining and relays to the next, banner and all", async () => {
    const down = await node(DRAINING);
    const up = await node(OPEN);
    servers.push(down.server, up.server);
    const r = await connect([{ name: "down", port: down.port }, { name: "up", port: up.port }]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${OPEN}HI\n`);
    assert.match(r.stderr, /^podspawn connect: connected to node up \(127\.0\.0\.1:\d+\); skipped down \(127\.0\.0\.1:\d+\): draining\n$/);
    assert.equal(down.accepted(), 1, "the draining node was asked, and only once");
  });

  it("uses a draining node when no other node answers (users may still have environments there)", async () => {
    const down = await node(DRAINING);
    servers.push(down.server);
    const r = await connect([{ name: "down", port: down.port }, { name: "up", port: await closedPort() }]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${DRAINING}HI\n`);
    assert.match(r.stderr, /^podspawn connect: connected to node down \(.*\); skipped down \(.*\): draining; up \(.*\): ECONNREFUSED\n$/);
  });

  it("tries a node the manifest marks drained only after the others", async () => {
    const down = await node(OPEN);
    const up = await node(OPEN);
    servers.push(down.server, up.server);
    const r = await connect([{ name: "down", port: down.port, drained: true }, { name: "up", port: up.port }]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "", "up is simply the first in the order now");
    assert.equal(down.accepted(), 0);
    const fallback = await connect([{ name: "down", port: down.port, drained: true }, { name: "up", port: await closedPort() }]);
    assert.equal(fallback.code, 0);
    assert.match(fallback.stderr, /connected to node down .*; skipped up .*: ECONNREFUSED/);
  });

  it("fails over from a node that accepts TCP but sends no banner", async () => {
    const mute = await node(null);
    const up = await node(OPEN);
    servers.push(mute.server, up.server);
    const r = await connect([{ name: "down", port: mute.port }, { name: "up", port: up.port }], ["--connect-timeout", "300ms"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${OPEN}HI\n`);
    assert.match(r.stderr, /skipped down \(.*\): no SSH banner within 300 ms\n$/);
  });
});

describe("ssh banner", () => {
  it("recognises the drain mark only as a word of an SSH identification line", () => {
    assert.equal(isDrainingBanner("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 podspawn-draining"), true);
    assert.equal(isDrainingBanner("SSH-2.0-OpenSSH_9.2p1 podspawn-draining-not"), false);
    assert.equal(isDrainingBanner("SSH-2.0-podspawn-draining"), false, "the software version is not a comment");
    assert.equal(isDrainingBanner("hello podspawn-draining"), false);
  });

  it("takes the first line without CR LF, or null before a newline", () => {
    assert.equal(firstLine(Buffer.from("SSH-2.0-x\r\nrest")), "SSH-2.0-x");
    assert.equal(firstLine(Buffer.from("SSH-2.0-x")), null);
  });

  it("moves drained nodes to the end, keeping both groups' order", () => {
    const order = drainedLast([{ n: 1, drained: true }, { n: 2 }, { n: 3, drained: true }, { n: 4, drained: false }]);
    assert.deepEqual(order.map((o) => o.n), [2, 4, 1, 3]);
  });
});

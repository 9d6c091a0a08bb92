/**
 * Port forwarding into the container, the product's way: `ssh user podspawn-tunnel PORT` (the
 * daemon dials the user's own container) and the `podspawn forward` client command on top of it.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { eventually, INSTANCE, startNode, type NodeHandle } from "./harness.js";
import { exchange } from "./tcp-exchange.js";
import { startEcho, startForward } from "./port-forward.js";

const USER = "e2e-tun";
const OTHER = "e2e-tun2";
const ECHO_PORT = 7070;
let node: NodeHandle;
const started: ChildProcess[] = [];

before(async () => {
  node = await startNode([USER, OTHER]);
});
after(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await node?.stop();
});

const containerOf = (user: string): string => `${INSTANCE}.${user}.default`;

describe("podspawn-tunnel PORT over ssh", () => {
  it("relays stdin to a port in the user's container and the answer back, exit 0", async () => {
    await startEcho(node, USER, ECHO_PORT);
    const r = await node.ssh(USER, ["podspawn-tunnel", String(ECHO_PORT)], { input: "hello through the tunnel\n" });
    assert.equal(r.stdout, "hello through the tunnel\n", r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
  });

  it("says in one line that nothing is listening on a closed port, exit 255", async () => {
    const r = await node.ssh(USER, ["podspawn-tunnel", "7071"], { input: "x" });
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "podspawn: nothing is listening on port 7071 in your default environment\n");
  });

  it("reaches only the user's own container: another user's tunnel to the same port finds nothing", async () => {
    await startEcho(node, USER, ECHO_PORT);
    const r = await node.ssh(OTHER, ["podspawn-tunnel", String(ECHO_PORT)], { input: "x" });
    assert.equal(r.code, 255);
    assert.equal(r.stderr, `podspawn: nothing is listening on port ${ECHO_PORT} in your default environment\n`);
  });

  it("keeps the container while a tunnel is open, past the grace period", async () => {
    await startEcho(node, USER, ECHO_PORT);
    const child = spawn("ssh", [...node.sshArgs(USER), `${USER}@127.0.0.1`, "podspawn-tunnel", String(ECHO_PORT)], { stdio: ["pipe", "pipe", "pipe"] });
    started.push(child);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.stdin.write("first\n");
    assert.ok(await eventually(() => out === "first\n", 15_000), `echo through the open tunnel, got ${JSON.stringify(out)}`);
    assert.ok((await node.status()).sessions.some((s) => s.user === USER), "the tunnel is counted as a session");
    // grace_period is 3 s in the test config: wait well past it with the tunnel open.
    await new Promise((r) => setTimeout(r, 6000));
    assert.ok(node.containers().some((l) => l === `${containerOf(USER)} running`), node.containers().join("\n"));
    child.stdin.end("second\n");
    assert.equal(await exited, 0);
    assert.equal(out, "first\nsecond\n");
    assert.ok(await eventually(async () => !(await node.status()).sessions.some((s) => s.user === USER), 10_000), "session released when the tunnel closed");
    assert.ok(await eventually(() => !node.containers().some((l) => l.startsWith(containerOf(USER))), 15_000, 250), "container removed after the grace period");
  });
});

describe("podspawn forward", () => {
  it("forwards a local port to the container port, for two concurrent connections, until SIGINT", async () => {
    await startEcho(node, USER, ECHO_PORT);
    const fwd = await startForward(node, USER, ECHO_PORT);
    started.push(fwd.child);
    const { port } = fwd;
    assert.match(fwd.stderr(), new RegExp(`^podspawn forward: 127\\.0\\.0\\.1:${port} -> port ${ECHO_PORT} in ${USER}@127\\.0\\.0\\.1 \\(Ctrl-C to stop\\)$`, "m"));
    const a = randomBytes(200 * 1024);
    const b = randomBytes(50 * 1024 + 3);
    const [backA, backB] = await Promise.all([exchange(port, a), exchange(port, b)]);
    assert.ok(backA.equals(a), `first connection: ${backA.length} of ${a.length} bytes back intact`);
    assert.ok(backB.equals(b), `second connection: ${backB.length} of ${b.length} bytes back intact`);
    // The listener outlives its connections.
    assert.ok((await exchange(port, Buffer.from("again"))).equals(Buffer.from("again")));
    fwd.child.kill("SIGINT");
    assert.equal(await fwd.exited, 0, fwd.stderr());
  });

  it("passes the node's one-line refusal through to stderr for a closed port", async () => {
    const fwd = await startForward(node, USER, 7071);
    started.push(fwd.child);
    const { port } = fwd;
    const back = await exchange(port, Buffer.from("x"));
    assert.equal(back.length, 0);
    assert.ok(await eventually(() => fwd.stderr().includes("podspawn forward: ssh: podspawn: nothing is listening on port 7071 in your default environment"), 5000), fwd.stderr());
    fwd.child.kill("SIGTERM");
    assert.equal(await fwd.exited, 0, fwd.stderr());
  });
});

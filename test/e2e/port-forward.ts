/**
 * The pieces of a port-forwarding test: an echo server inside a user's container, reached first
 * through `podspawn-tunnel`, and the `podspawn forward` client started against it.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { eventually, type NodeHandle } from "./harness.js";

const bundle = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "dist", "bundle", "podspawn.cjs");

/** An echo server for inside the container, one forked child per connection, echoing until EOF. */
export function echoServer(port: number): string {
  return `perl -MIO::Socket::INET -e '$SIG{CHLD}="IGNORE"; my $s=IO::Socket::INET->new(LocalPort=>${port},Listen=>16,ReuseAddr=>1) or die $!; while (my $c=$s->accept) { if (fork) { close $c; next } my $b; while (sysread($c,$b,65536)) { syswrite($c,$b) } exit }'`;
}

/** Start the echo server in the user's container (a second one just fails to bind) and wait until it answers through a tunnel. */
export async function startEcho(node: NodeHandle, user: string, port: number): Promise<void> {
  const r = await node.ssh(user, [`setsid nohup ${echoServer(port)} >/dev/null 2>&1 </dev/null &`]);
  assert.equal(r.code, 0, r.stderr);
  const up = await eventually(async () => (await node.ssh(user, ["podspawn-tunnel", String(port)], { input: "probe" })).stdout === "probe", 15_000, 300);
  assert.ok(up, "the echo server in the container answers through a tunnel");
}

export interface Forward {
  readonly child: ChildProcess;
  /** The local port it listens on, from its own line. */
  readonly port: number;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  readonly exited: Promise<number | null>;
}

/** `podspawn forward 0:<remotePort> user@127.0.0.1`, once it says where it listens. The caller kills it (`child`). */
export async function startForward(node: NodeHandle, user: string, remotePort: number): Promise<Forward> {
  const child = spawn(process.execPath, [bundle, "forward", `0:${remotePort}`, `${user}@127.0.0.1`, "--", ...node.sshArgs(user)], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const listening = await eventually(() => /127\.0\.0\.1:\d+ -> port/.test(err), 10_000);
  if (!listening) child.kill("SIGKILL");
  assert.ok(listening, err);
  return { child, port: Number(/127\.0\.0\.1:(\d+) -> port/.exec(err)?.[1]), stderr: () => err, exited };
}

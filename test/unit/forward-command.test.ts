import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { connect, createServer, type Server } from "node:net";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { makeForwardCommand, parseForwardArgs } from "../../agent/src/cli/commands/client/forward.js";
import { InputError } from "../../agent/src/core/errors.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const inputError = (field: string) => (err: unknown) => err instanceof InputError && err.field === field;

describe("parseForwardArgs", () => {
  it("reads ports, destination and the ssh arguments after --", () => {
    assert.deepEqual(parseForwardArgs(["8080:3000", "dev@127.0.0.1", "--", "-p", "2223", "-i", "key"]), {
      local: "127.0.0.1",
      localPort: 8080,
      remotePort: 3000,
      destination: "dev@127.0.0.1",
      sshArgs: ["-p", "2223", "-i", "key"],
    });
  });

  it("listens on loopback unless --local says otherwise, and lets LOCALPORT be 0 (any free port)", () => {
    assert.equal(parseForwardArgs(["0:1", "work.pod"]).local, "127.0.0.1");
    assert.equal(parseForwardArgs(["0:1", "work.pod"]).localPort, 0);
    assert.equal(parseForwardArgs(["--local", "0.0.0.0", "80:65535", "work.pod"]).local, "0.0.0.0");
    assert.equal(parseForwardArgs(["--local", "::1", "80:65535", "work.pod"]).remotePort, 65535);
  });

  it("refuses bad ports naming the field", () => {
    assert.throws(() => parseForwardArgs(["8080:0", "h"]), inputError("REMOTEPORT"));
    assert.throws(() => parseForwardArgs(["8080:65536", "h"]), inputError("REMOTEPORT"));
    assert.throws(() => parseForwardArgs(["8080:http", "h"]), inputError("REMOTEPORT"));
    assert.throws(() => parseForwardArgs(["-1:80", "h"]), InputError);
    assert.throws(() => parseForwardArgs(["70000:80", "h"]), inputError("LOCALPORT"));
    assert.throws(() => parseForwardArgs(["8080", "h"]), inputError("LOCALPORT:REMOTEPORT"));
    assert.throws(() => parseForwardArgs(["1:2:3", "h"]), inputError("LOCALPORT:REMOTEPORT"));
  });

  it("refuses a missing or option-like destination, a bad --local and unknown flags", () => {
    assert.throws(() => parseForwardArgs(["8080:80"]), inputError("forward"));
    assert.throws(() => parseForwardArgs(["8080:80", "a", "b"]), inputError("forward"));
    assert.throws(() => parseForwardArgs(["8080:80", "-oProxyCommand=x"]), InputError);
    assert.throws(() => parseForwardArgs(["8080:80", "--", "-p", "22"]), inputError("forward"));
    assert.throws(() => parseForwardArgs(["--local", "localhost", "8080:80", "h"]), inputError("--local"));
    assert.throws(() => parseForwardArgs(["--remote", "x", "8080:80", "h"]), inputError("forward flags"));
  });
});

describe("podspawn forward", () => {
  it("runs one `ssh ARGS DEST podspawn-tunnel PORT` per connection and relays it both ways", async () => {
    const calls: (readonly string[])[] = [];
    const envs: NodeJS.ProcessEnv[] = [];
    // Stands in for ssh: an upper-casing cat, so the relay is visible in the answer.
    const spawnSsh = (args: readonly string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams => {
      calls.push(args);
      envs.push(env);
      return spawn(process.execPath, ["-e", "process.stdin.on('data',d=>process.stdout.write(String(d).toUpperCase()));process.stderr.write('hello from ssh\\n')"], { stdio: ["pipe", "pipe", "pipe"] });
    };
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    let listening!: (port: number) => void;
    const bound = new Promise<number>((resolve) => (listening = resolve));
    const stderr = new Sink();
    const cmd = makeForwardCommand({ spawnSsh, stop: stopped, onListening: (p) => listening(p) });
    const userEnv = { HOME: "/home/dev", SSH_AUTH_SOCK: "/tmp/agent.sock" };
    const running = cmd.run(["0:3000", "dev@node", "--", "-p", "2223"], { stdout: new Sink(), stderr, env: userEnv, layout: layoutFor("podspawn") });
    const port = await bound;
    const roundTrip = (text: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = connect(port, "127.0.0.1");
        let got = "";
        s.on("data", (d: Buffer) => {
          got += d.toString();
          if (got.length >= text.length) {
            s.end();
            resolve(got);
          }
        });
        s.on("error", reject);
        s.write(text);
      });
    assert.deepEqual(await Promise.all([roundTrip("one"), roundTrip("two")]), ["ONE", "TWO"]);
    assert.deepEqual(calls, [
      ["-p", "2223", "dev@node", "podspawn-tunnel 3000"],
      ["-p", "2223", "dev@node", "podspawn-tunnel 3000"],
    ]);
    assert.deepEqual(envs, [userEnv, userEnv], "ssh runs with the user's environment (agent, HOME), not a cleaned one");
    stop();
    assert.equal(await running, 0);
    assert.match(stderr.text, new RegExp(`^podspawn forward: 127\\.0\\.0\\.1:${port} -> port 3000 in dev@node`, "m"));
    assert.match(stderr.text, /^podspawn forward: ssh: hello from ssh$/m);
  });

  it("says so when the local port is taken", async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const cmd = makeForwardCommand({ stop: Promise.resolve() });
      await assert.rejects(cmd.run([`${port}:80`, "h"], { stdout: new Sink(), stderr: new Sink(), env: {}, layout: layoutFor("podspawn") }), /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    } finally {
      busy.close();
    }
  });
});

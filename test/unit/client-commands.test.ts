import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import type { Dial } from "../../agent/src/adapters/net/tcp-relay.js";
import { makeClientSetupCommand } from "../../agent/src/cli/commands/client/client-setup.js";
import { makeOpenCommand, openArgv } from "../../agent/src/cli/commands/client/open.js";
import { makeServersCommand } from "../../agent/src/cli/commands/client/servers.js";
import { makeSetupCommand } from "../../agent/src/cli/commands/client/setup.js";
import { makeSshCommand, sshArgv } from "../../agent/src/cli/commands/client/ssh.js";
import type { Command } from "../../agent/src/cli/command.js";
import { InputError } from "../../agent/src/core/errors.js";
import { checkSshFlags, podDestination } from "../../agent/src/core/fleet/ssh-argv.js";
import { placement, renderServers } from "../../agent/src/core/fleet/servers-report.js";
import { rankNodes } from "../../agent/src/core/fleet/rendezvous.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { freshEd25519 } from "./helpers/test-keys.js";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** The command as the dispatcher runs it; a thrown error is the one line main() prints. */
async function run(cmd: Command, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  let code: number;
  try {
    code = await cmd.run(argv, { stdout, stderr, env, layout: layoutFor() });
  } catch (err) {
    code = err instanceof InputError ? 2 : 1;
    stderr.text += `podspawn ${cmd.name}: ${(err as Error).message}\n`;
  }
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pst-client-"));
});
after(() => rm(dir, { recursive: true, force: true }));

describe("podspawn ssh", () => {
  it("passes every flag between NAME and -- to ssh untouched, then the destination, then the command", () => {
    assert.deepEqual(sshArgv(["alice@work.pod", "-L", "8080:localhost:8080", "--", "make", "test"]), ["-L", "8080:localhost:8080", "alice@work.pod", "make", "test"]);
    assert.deepEqual(sshArgv(["alice@work", "-vt", "-p2222", "-o", "ServerAliveInterval=30"]), ["-vt", "-p2222", "-o", "ServerAliveInterval=30", "alice@work.pod"]);
  });

  it("refuses a bare word among the flags instead of letting it become the destination or the command", () => {
    assert.throws(() => sshArgv(["alice@work", "ls", "-la"]), /ssh flags: "ls" is not an ssh option \(allowed: .*after --\)/);
    assert.throws(() => checkSshFlags(["-L"]), /-L needs a value/);
    assert.throws(() => checkSshFlags(["-Z"]), /-Z \(in "-Z"\) is not an ssh option/);
  });

  it("adds .pod to a bare project name only, and refuses a destination that ssh would read as an option", () => {
    assert.equal(podDestination("alice@web"), "alice@web.pod");
    assert.equal(podDestination("web"), "web.pod");
    assert.equal(podDestination("alice@web.pod"), "alice@web.pod");
    assert.equal(podDestination("dev@127.0.0.1"), "dev@127.0.0.1");
    assert.throws(() => podDestination("-oProxyCommand=x"), /NAME: "-oProxyCommand=x" is not an ssh destination/);
  });

  it("runs ssh with that argv and the user's environment, and exits with ssh's status", async () => {
    const calls: { file: string; args: readonly string[]; env: NodeJS.ProcessEnv }[] = [];
    const cmd = makeSshCommand(async (file, args, env) => (calls.push({ file, args, env }), 42));
    const r = await run(cmd, ["alice@web", "-A", "--", "echo", "hi"], { HOME: "/home/x", SSH_AUTH_SOCK: "/tmp/agent" });
    assert.equal(r.code, 42, r.stderr);
    assert.deepEqual(calls, [{ file: "ssh", args: ["-A", "alice@web.pod", "echo", "hi"], env: { HOME: "/home/x", SSH_AUTH_SOCK: "/tmp/agent" } }]);
  });

  it("says in one line that ssh cannot be run", async () => {
    const r = await run(makeSshCommand(async () => Promise.reject(new Error("spawn ssh ENOENT"))), ["web"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "podspawn ssh: cannot run ssh: spawn ssh ENOENT\n");
  });
});

describe("podspawn open", () => {
  it("runs code --remote ssh-remote+NAME PATH, the path defaulting to the user's home", async () => {
    assert.deepEqual(openArgv("alice@web", undefined), ["--remote", "ssh-remote+alice@web.pod", "/home/alice"]);
    assert.deepEqual(openArgv("web.pod", undefined), ["--remote", "ssh-remote+web.pod"]);
    const calls: string[][] = [];
    const r = await run(
      makeOpenCommand(async (file, args) => (calls.push([file, ...args]), 0)),
      ["alice@web", "/home/alice/src", "--program", "codium"],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(calls, [["codium", "--remote", "ssh-remote+alice@web.pod", "/home/alice/src"]]);
  });

  it("refuses a relative path", async () => {
    const r = await run(makeOpenCommand(async () => 0), ["alice@web", "src"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^podspawn open: PATH: "src" is not an absolute path/);
  });
});

describe("podspawn setup", () => {
  it("is client-setup under the reference system's name: same flags, same files", async () => {
    const key = freshEd25519().split(" ").slice(0, 2).join(" ");
    const manifest = join(dir, "fleet.json");
    await writeFile(manifest, JSON.stringify({ version: 1, fleet: "dev", domain: "pod", nodes: [{ name: "fa", address: "127.0.0.2", port: 2240, hostKeys: [key] }] }));
    const deps = { program: () => ["/usr/bin/node", "/opt/podspawn.cjs"] };
    const args = ["--manifest", manifest, "--dry-run", "--project", "web"];
    const a = await run(makeSetupCommand(deps), args, { HOME: dir });
    const b = await run(makeClientSetupCommand(deps), args, { HOME: dir });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /Host web\.pod web\.dev\.pod/);
    assert.match(makeSetupCommand(deps).usage, /^Usage: podspawn setup \[--manifest PATH\|URL\]/);
  });
});

const hostKey = freshEd25519().split(" ").slice(0, 2).join(" ");
const NODES = ["fa", "fb", "fc"].map((name, i) => ({ name, address: "127.0.0.1", port: 30001 + i, hostKeys: [hostKey] }));

describe("podspawn servers", () => {
  const manifest = (): string => join(dir, "servers.json");
  before(async () => {
    await writeFile(manifest(), JSON.stringify({ version: 1, fleet: "dev", domain: "pod", nodes: NODES }));
  });

  /** Nodes answer or refuse by name; the clock moves 3 ms per reading (probes run at once: each sees 9 ms). */
  function fakeDial(down: readonly string[]): Dial {
    return async (_host, port) => {
      const node = NODES.find((n) => n.port === port);
      if (!node || down.includes(node.name)) throw new Error("ECONNREFUSED");
      const { Socket } = await import("node:net");
      return new Socket();
    };
  }
  const clock = (): (() => number) => {
    let t = 0;
    return () => (t += 3);
  };

  it("lists every node with its health, and where a user's project lands: its first choice when that answers", async () => {
    const [first] = rankNodes("alice", "web", NODES);
    const r = await run(makeServersCommand({ dial: fakeDial([]), clock: clock() }), ["--manifest", manifest(), "--user", "alice", "--project", "web"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^fleet dev \(\*\.pod\), 3 node\(s\)\nNODE {2}ADDRESS {4}PORT {3}HEALTH\nfa {4}127\.0\.0\.1 {2}30001 {2}ok \(9 ms\)\n/);
    assert.match(r.stdout, new RegExp(`^alice@web\\.pod -> ${first?.name} \\(first choice; then `, "m"));
  });

  it("fails the user over to the next node in rendezvous order when the first does not answer", async () => {
    const [first, second] = rankNodes("alice", "web", NODES);
    assert.ok(first && second);
    const r = await run(makeServersCommand({ dial: fakeDial([first.name]), clock: clock() }), ["--manifest", manifest(), "--user", "alice", "--project", "web"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^${first.name} .* unreachable: ECONNREFUSED$`, "m"));
    assert.match(r.stdout, new RegExp(`^alice@web\\.pod -> ${second.name} \\(failover: ${first.name} did not answer\\)$`, "m"));
  });

  it("exits 1 when no node answers, and says so for the user", async () => {
    const r = await run(makeServersCommand({ dial: fakeDial(["fa", "fb", "fc"]), clock: clock() }), ["--manifest", manifest(), "--user", "bob"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^bob@default\.pod: no node answers/m);
  });

  it("probes real TCP: a listening port is ok, a closed one is not", async () => {
    const server: Server = createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const file = join(dir, "real.json");
    await writeFile(file, JSON.stringify({ version: 1, fleet: "dev", domain: "pod", nodes: [{ name: "up", address: "127.0.0.1", port, hostKeys: [hostKey] }, { name: "down", address: "127.0.0.1", port: 1, hostKeys: [hostKey] }] }));
    try {
      const r = await run(makeServersCommand(), ["--manifest", file, "--json"]);
      const doc = JSON.parse(r.stdout) as { nodes: { name: string; ok: boolean }[] };
      assert.deepEqual(doc.nodes.map((n) => [n.name, n.ok]), [["up", true], ["down", false]]);
    } finally {
      server.close();
    }
  });

  it("refuses --project without --user, and a bad user name", async () => {
    assert.match((await run(makeServersCommand(), ["--manifest", manifest(), "--project", "web"])).stderr, /--project: needs --user/);
    assert.match((await run(makeServersCommand(), ["--manifest", manifest(), "--user", "Bad!"])).stderr, /--user: "Bad!" is not a valid username/);
  });

  it("renders a placement only when asked", () => {
    const probed = NODES.map((node) => ({ node, health: { ok: true as const, ms: 1 } }));
    assert.doesNotMatch(renderServers("dev", "pod", probed, null), /->/);
    assert.equal(placement("alice", "web", probed).lands, rankNodes("alice", "web", NODES)[0]?.name);
  });
});

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parsePublicKey } from "../../agent/src/core/users/keys.js";
import { runCommand } from "../../scripts/local-node.js";
import { DEFAULT_TEST_CONFIG, eventually, INSTANCE, layout, startNode, type NodeHandle } from "./harness.js";

const USER = "e2e-sec";
const OTHER = "e2e-other";
let node: NodeHandle;

before(async () => {
  // nodaemon never reaches a daemon; the others are logins into a registered project.
  node = await startNode([USER, OTHER], { projects: ["audit", "web", "noimage"] });
});
after(async () => {
  await node?.stop();
});

/** Connect to a unix socket as a host account; prints CONNECTED or the error code. */
async function connectAs(user: string, path: string): Promise<string> {
  const js = `require("net").connect(${JSON.stringify(path)}).on("connect",()=>{console.log("CONNECTED");process.exit(0)}).on("error",e=>{console.log(e.code);process.exit(0)})`;
  const r = await runCommand("runuser", ["-u", user, "--", process.execPath, "-e", js]);
  return r.stdout.trim() || r.stderr.trim();
}

/** A listener that would answer if a forward reached it, and counts who got through. */
interface LiveTarget {
  readonly hits: () => number;
  readonly close: () => void;
}

function answering(listen: (server: Server) => Promise<void>): Promise<LiveTarget & { server: Server }> {
  let hits = 0;
  const server = createServer((s) => {
    hits++;
    s.on("error", () => undefined);
    s.end("HOST-REACHED\n");
  });
  return listen(server).then(() => ({ server, hits: () => hits, close: () => void server.close() }));
}

/** A TCP listener on host loopback. */
async function liveTcpTarget(): Promise<LiveTarget & { server: Server; port: number }> {
  const t = await answering((server) => new Promise((r) => server.listen(0, "127.0.0.1", r)));
  return { ...t, port: (t.server.address() as AddressInfo).port };
}

/** A unix socket on the host that every account may connect to (dir 0755, socket 0777). */
async function liveUnixTarget(): Promise<LiveTarget & { path: string }> {
  const dir = await mkdtemp(join(tmpdir(), "podspawn-e2e-sock-"));
  await chmod(dir, 0o755);
  const path = join(dir, "open.sock");
  const t = await answering((server) => new Promise((r) => server.listen(path, r)));
  await chmod(path, 0o777);
  return { ...t, path, close: () => (t.close(), void rm(dir, { recursive: true, force: true })) };
}

/** A loopback port nothing listens on (bound once, then released). */
async function freePort(): Promise<number> {
  const t = await liveTcpTarget();
  await new Promise((r) => t.server.close(r));
  return t.port;
}

/**
 * ssh as USER in the background with its diagnostics on. `-o LogLevel=INFO` comes first because
 * ssh keeps the first value it gets for an option, and the harness's args say ERROR, which hides
 * the client's "open failed" lines.
 */
function backgroundSsh(args: readonly string[]): { child: ChildProcess; stderr: () => string; saw: (re: RegExp, ms?: number) => Promise<boolean> } {
  const child = spawn("ssh", ["-o", "LogLevel=INFO", ...node.sshArgs(USER), ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return { child, stderr: () => stderr, saw: (re, ms = 10_000) => eventually(() => re.test(stderr), ms) };
}

/**
 * Runs `ssh -N -L 127.0.0.1:<port>:<target>`, connects to the local end, sends `payload` and
 * returns what came back ("" when the server refused the channel) with ssh's stderr, or a null
 * reply if ssh never listened.
 */
async function forwardedReply(target: string, payload: string): Promise<{ reply: string | null; stderr: string }> {
  const localPort = await freePort();
  const ssh = backgroundSsh(["-N", "-L", `127.0.0.1:${localPort}:${target}`, `${USER}@127.0.0.1`]);
  try {
    for (let i = 0; i < 50; i++) {
      const data = await new Promise<string | null>((resolve) => {
        const s = connect(localPort, "127.0.0.1");
        let buf = "";
        let connected = false;
        s.on("connect", () => {
          connected = true;
          s.write(payload);
        });
        s.on("data", (d) => (buf += String(d)));
        s.on("close", () => resolve(connected ? buf : null));
        // A reset after connecting is ssh closing the refused channel: that is an answer too.
        s.on("error", () => resolve(connected ? buf : null));
      });
      if (data !== null) {
        await ssh.saw(/open failed/);
        return { reply: data, stderr: ssh.stderr() };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return { reply: null, stderr: ssh.stderr() };
  } finally {
    ssh.child.kill();
  }
}

/** What sshd says when it refuses to open a TCP forwarding channel, as the ssh client prints it. */
const PROHIBITED = /open failed: administratively prohibited/;

/**
 * sshd's own record of refusing a unix-socket forward. The client cannot tell that refusal from a
 * failed connect (both arrive as "connect failed"), so the refusal is read where sshd decides it.
 */
async function sshdRefusedStreamlocal(run: () => Promise<unknown>, path: string): Promise<boolean> {
  const before = (await readFile(node.sshdLog, "utf8")).length;
  await run();
  const refused = new RegExp(`refused streamlocal port forward: originator .* target ${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`, "m");
  return eventually(async () => refused.test((await readFile(node.sshdLog, "utf8")).slice(before)), 5000);
}

describe("authentication", () => {
  it("refuses a user that is not registered", async () => {
    const r = await node.ssh("e2e-nobody", ["true"], { key: node.keyFor(USER) });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied/);
  });

  it("refuses a registered user presenting someone else's key", async () => {
    const r = await node.ssh(USER, ["true"], { key: node.keyFor("stranger") });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied/);
  });

  it("refuses a user after remove-user, and lets them back after add-user", async () => {
    const removed = await node.podspawn(["remove-user", OTHER, "--force"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await node.ssh(OTHER, ["true"])).code, 255);
    const added = await node.podspawn(["add-user", OTHER, "--key-file", `${node.keyFor(OTHER)}.pub`]);
    assert.equal(added.code, 0, added.stderr);
    assert.ok(await eventually(async () => (await node.ssh(OTHER, ["true"])).code === 0, 10_000, 300));
  });
});

describe("host isolation", () => {
  it("the login account is not in the docker group and cannot open the Docker socket", async () => {
    const groups = await runCommand("id", ["-nG", USER]);
    assert.doesNotMatch(groups.stdout, /\bdocker\b/);
    assert.match(await connectAs(USER, "/var/run/docker.sock"), /EACCES/);
  });

  it("a pod user cannot connect to another pod user's session socket", async () => {
    assert.match(await connectAs(USER, `${layout.runDir}/u/${OTHER}/spawn.sock`), /EACCES/);
    assert.equal(await connectAs(USER, `${layout.runDir}/u/${USER}/spawn.sock`), "CONNECTED");
  });

  it("refuses a stdio forward (ssh -W) to a live host port, which never sees a connection", async () => {
    const target = await liveTcpTarget();
    try {
      const r = await runCommand("ssh", ["-o", "LogLevel=INFO", ...node.sshArgs(USER), "-W", `127.0.0.1:${target.port}`, `${USER}@127.0.0.1`], { input: "", timeoutMs: 15_000 });
      assert.equal(r.code, 255);
      assert.match(r.stderr, PROHIBITED);
      assert.doesNotMatch(r.stdout, /HOST-REACHED/);
      assert.equal(target.hits(), 0, "the host listener was never reached");
    } finally {
      target.close();
    }
  });

  it("refuses forwarding to a host unix socket the pod user could open itself (ssh -L port:/path.sock)", async () => {
    const target = await liveUnixTarget();
    try {
      // The account can connect to this socket: a refusal below is sshd's, not the file mode's.
      assert.equal(await connectAs(USER, target.path), "CONNECTED");
      const before = target.hits();
      assert.equal(before, 1);
      let got: Awaited<ReturnType<typeof forwardedReply>> | undefined;
      const refused = await sshdRefusedStreamlocal(async () => (got = await forwardedReply(target.path, "GET /version HTTP/1.0\r\n\r\n")), target.path);
      assert.notEqual(got?.reply, null, "the ssh client listened locally");
      assert.equal(got?.reply, "", "nothing came back through the forward");
      assert.ok(refused, `sshd logged its refusal of the forward to ${target.path}`);
      assert.equal(target.hits(), before, "the socket saw no connection from the forward");
    } finally {
      target.close();
    }
  });

  it("refuses forwarding to the host's Docker socket (ssh -L port:/var/run/docker.sock) at sshd, before any permission check", async () => {
    let got: Awaited<ReturnType<typeof forwardedReply>> | undefined;
    const refused = await sshdRefusedStreamlocal(async () => (got = await forwardedReply("/var/run/docker.sock", "GET /version HTTP/1.0\r\n\r\n")), "/var/run/docker.sock");
    assert.notEqual(got?.reply, null, "the ssh client listened locally");
    assert.doesNotMatch(got?.reply ?? "", /ApiVersion|HTTP\/1/);
    // Allowed, sshd would try the socket and log its "Permission denied" instead.
    assert.ok(refused, "sshd logged its refusal of the forward to /var/run/docker.sock");
  });

  it("refuses local port forwarding to a live host port (ssh -L)", async () => {
    const target = await liveTcpTarget();
    try {
      const got = await forwardedReply(`127.0.0.1:${target.port}`, "");
      assert.notEqual(got.reply, null, "the ssh client listened locally");
      assert.equal(got.reply, "", "the forward was refused, nothing came back");
      assert.match(got.stderr, PROHIBITED);
      assert.equal(target.hits(), 0, "the host listener was never reached");
    } finally {
      target.close();
    }
  });

  it("refuses remote port forwarding (ssh -R): the host port never opens, the client's listener is never reached", async () => {
    // If sshd allowed it, 127.0.0.1:<remotePort> on the host would lead to this live listener.
    const target = await liveTcpTarget();
    const remotePort = await freePort();
    const ssh = backgroundSsh(["-N", "-R", `127.0.0.1:${remotePort}:127.0.0.1:${target.port}`, `${USER}@127.0.0.1`]);
    try {
      assert.ok(await ssh.saw(new RegExp(`remote port forwarding failed for listen port ${remotePort}`)), ssh.stderr());
      const probe = await new Promise<string>((resolve) => {
        const s = connect(remotePort, "127.0.0.1");
        s.on("connect", () => (s.destroy(), resolve("connected")));
        s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
      assert.equal(probe, "ECONNREFUSED", "nothing listens on the host port");
      assert.equal(target.hits(), 0);
    } finally {
      ssh.child.kill();
      target.close();
    }
  });

  it("keeps the key registry, state and audit log unreadable to others", async () => {
    await node.ssh(USER, ["true"]);
    const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
    assert.equal(await mode(`${layout.usersDir}/${USER}.keys`), 0o640);
    assert.equal(await mode(layout.stateDir), 0o700);
    assert.ok(await eventually(async () => (await mode(`${layout.stateDir}/audit.log`).catch(() => -1)) === 0o600, 5000));
    assert.equal(await mode(layout.controlSocket), 0o600);
  });
});

describe("audit", () => {
  it("records which key opened each session (ExposeAuthInfo), never the key's owner's say-so", async () => {
    const r = await node.ssh(USER, ["-o", "SetEnv=PODSPAWN_PROJECT=audit", "true"]);
    assert.equal(r.code, 0, r.stderr);
    const expected = parsePublicKey(await readFile(`${node.keyFor(USER)}.pub`, "utf8")).fingerprint;
    const ok = await eventually(async () => {
      const lines = (await readFile(`${layout.stateDir}/audit.log`, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      return lines.some((l) => l["event"] === "session-start" && l["user"] === USER && l["project"] === "audit" && l["key"] === expected);
    }, 5000);
    assert.ok(ok, `audit log has a session-start for ${USER}/audit with key ${expected}`);
  });
});

describe("projects", () => {
  it("PODSPAWN_PROJECT sent with SetEnv selects a separate container for the project", async () => {
    const r = await node.ssh(USER, ["-o", "SetEnv=PODSPAWN_PROJECT=web", "hostname; echo $PODSPAWN_PROJECT"]);
    assert.equal(r.stdout, "web\nweb\n", r.stderr);
    assert.ok(node.containers().some((l) => l.startsWith(`${INSTANCE}.${USER}.web `)));
  });

  it("an invalid project name is refused with one clear line naming it", async () => {
    const r = await node.ssh(USER, ["-o", "SetEnv=PODSPAWN_PROJECT=../etc", "true"]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /^podspawn: PODSPAWN_PROJECT: "\.\.\/etc" is not a valid project name/m);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });
});

describe("failures reach the user as one line", () => {
  it("daemon down: spawn prints one clear line, exits 255, and creates nothing", async () => {
    const before = node.containers();
    const { stopDaemon, startDaemon } = await import("../../scripts/local-node.js");
    await stopDaemon(INSTANCE);
    try {
      const r = await node.ssh(USER, ["-o", "SetEnv=PODSPAWN_PROJECT=nodaemon", "echo should-not-run"]);
      assert.equal(r.code, 255);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^podspawn: the session service \(podspawnd\) is not running on this node/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      // Nothing new (another user's idle container may be reaped meanwhile: only additions count).
      assert.deepEqual(node.containers().filter((c) => !before.includes(c)), []);
      assert.ok(!node.containers().some((c) => c.startsWith(`${INSTANCE}.${USER}.nodaemon `)));
    } finally {
      await startDaemon({ instance: INSTANCE, logFile: `/var/log/${INSTANCE}-daemon.log` });
    }
  });

  it("docker down: auth still works, and the session fails with one line about the engine", async () => {
    const keys = await runCommand("unshare", ["-m", "sh", "-c", `mount --bind /dev/null /var/run/docker.sock && exec ${layout.command} auth-keys ${USER}`]);
    assert.equal(keys.code, 0, keys.stderr);
    assert.match(keys.stdout, /^restrict,agent-forwarding,pty,command="/);
    await node.restartDaemon({ PODSPAWN_DOCKER_SOCKET: "/run/podspawn-e2e-no-docker.sock" });
    try {
      const r = await node.ssh(USER, ["echo should-not-run"]);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /^podspawn: the container engine on this node is not answering/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    } finally {
      await node.restartDaemon();
    }
  });

  it("a missing image: one line naming the image, exit 255", async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG.replace("podspawn/default:bookworm", "podspawn/absent:never"));
    await node.reload();
    try {
      const r = await node.ssh(USER, ["-o", "SetEnv=PODSPAWN_PROJECT=noimage", "true"]);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /^podspawn: the environment image podspawn\/absent:never is not available on this node/);
    } finally {
      await node.writeConfig(DEFAULT_TEST_CONFIG);
      await node.reload();
    }
  });
});

describe("what the user types never runs on the host", () => {
  const HOST_MARKER = "/tmp/podspawn-e2e-sec-host-marker";

  it("SSH_ORIGINAL_COMMAND with shell metacharacters runs, as typed, in the user's shell inside the container only", async () => {
    await rm(HOST_MARKER, { force: true });
    const command = `touch ${HOST_MARKER}; echo "$(hostname)" \`id -un\` | tr a-z A-Z && test -e ${HOST_MARKER} && echo in-container-only; echo 'a;b' "c|d" $((6*7)) > /dev/stdout || true`;
    const r = await node.ssh(USER, [command]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `DEFAULT ${USER.toUpperCase()}\nin-container-only\na;b c|d 42\n`);
    assert.equal(existsSync(HOST_MARKER), false, "the host's /tmp is untouched");
  });

  it("a command of 100 KiB arrives byte for byte; one sshd cannot pass to spawn (past the kernel's 128 KiB per variable) runs nothing", async () => {
    const pad = "x".repeat(100 * 1024);
    const ok = await node.ssh(USER, [`: ${pad}; echo ran ${pad.length}`]);
    assert.equal(ok.stdout, `ran ${pad.length}\n`, ok.stderr);
    const huge = await node.ssh(USER, [`touch ${HOST_MARKER}; : ${"y".repeat(260 * 1024)}`]);
    assert.notEqual(huge.code, 0);
    assert.equal(huge.stdout, "");
    assert.equal(existsSync(HOST_MARKER), false);
  });

  it("a command with a leading dash is the shell's command string inside the container, never an option of anything on the host", async () => {
    const r = await node.ssh(USER, ["--", "-c", "echo"]);
    // `bash -c '-c echo'`: bash reads "-c echo" as its command, finds no command "-c", exits 127.
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /-c: command not found|-c: not found|invalid option/);
    assert.notEqual(r.code, 0);
  });

  it("an unknown subsystem is refused by sshd and starts nothing", async () => {
    const before = node.containers();
    const r = await node.ssh(USER, ["-o", "SetEnv=PODSPAWN_PROJECT=subsys", "-s", "nosuchsubsystem"]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, "");
    assert.deepEqual(node.containers(), before, "no container for the refused request");
  });
});

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { parsePublicKey } from "../../agent/src/core/users/keys.js";
import { runCommand } from "../../scripts/local-node.js";
import { DEFAULT_TEST_CONFIG, eventually, INSTANCE, layout, startNode, type NodeHandle } from "./harness.js";

const USER = "e2e-sec";
const OTHER = "e2e-other";
let node: NodeHandle;

before(async () => {
  node = await startNode([USER, OTHER]);
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

/**
 * Runs `ssh -N -L 127.0.0.1:<port>:<target>`, connects to the local end, sends `payload` and
 * returns what came back ("" when the server refused the channel), or null if ssh never listened.
 */
async function forwardedReply(target: string, payload: string): Promise<string | null> {
  const localPort = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn("ssh", [...node.sshArgs(USER), "-N", "-L", `127.0.0.1:${localPort}:${target}`, `${USER}@127.0.0.1`], { stdio: "ignore" });
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
      if (data !== null) return data;
      await new Promise((r) => setTimeout(r, 100));
    }
    return null;
  } finally {
    child.kill();
  }
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

  it("refuses a stdio forward to a host port (ssh -W)", async () => {
    const r = await runCommand("ssh", [...node.sshArgs(USER), "-W", "127.0.0.1:22", `${USER}@127.0.0.1`], { input: "", timeoutMs: 15_000 });
    assert.equal(r.code, 255);
    assert.doesNotMatch(r.stdout, /^SSH-2\.0/);
  });

  it("refuses forwarding to the host's Docker socket (ssh -L port:/var/run/docker.sock)", async () => {
    const got = await forwardedReply(`/var/run/docker.sock`, "GET /version HTTP/1.0\r\n\r\n");
    assert.notEqual(got, null, "the ssh client listened locally");
    assert.doesNotMatch(got ?? "", /ApiVersion|HTTP\/1/);
  });

  it("refuses local port forwarding through the host (ssh -L)", async () => {
    // A listener on the host that the forward would reach if it were allowed.
    const hits: number[] = [];
    const target = createServer((s) => {
      hits.push(1);
      s.end("HOST-REACHED\n");
    });
    await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
    const targetPort = (target.address() as { port: number }).port;
    try {
      const got = await forwardedReply(`127.0.0.1:${targetPort}`, "");
      assert.notEqual(got, null, "the ssh client listened locally");
      assert.equal(got, "", "the forward was refused, nothing came back");
      assert.equal(hits.length, 0, "the host listener was never reached");
    } finally {
      target.close();
    }
  });

  it("refuses remote port forwarding (ssh -R)", async () => {
    const r = await runCommand("ssh", [...node.sshArgs(USER), "-N", "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:22", `${USER}@127.0.0.1`], { timeoutMs: 15_000 });
    assert.equal(r.code, 255);
  });

  it("does not forward the ssh agent", async () => {
    const r = await node.ssh(USER, ["-A", "echo agent=${SSH_AUTH_SOCK:-none}"]);
    assert.equal(r.stdout.trim(), "agent=none");
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
      assert.deepEqual(node.containers(), before);
    } finally {
      await startDaemon({ instance: INSTANCE, logFile: `/var/log/${INSTANCE}-daemon.log` });
    }
  });

  it("docker down: auth still works, and the session fails with one line about the engine", async () => {
    const keys = await runCommand("unshare", ["-m", "sh", "-c", `mount --bind /dev/null /var/run/docker.sock && exec ${layout.command} auth-keys ${USER}`]);
    assert.equal(keys.code, 0, keys.stderr);
    assert.match(keys.stdout, /^restrict,pty,command="/);
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

/**
 * Agent forwarding in the plain mode, end to end: a real ssh-agent holding a generated key on the
 * client side, `ssh -A` through the node's real sshd, spawn and the daemon, and ssh-add / ssh / git
 * inside the user's container.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { vethNetns } from "./veth-netns.js";
import { runCommand } from "../../scripts/local-node.js";
import { eventually, INSTANCE, startNode, type NodeHandle } from "./harness.js";

const USER = "e2e-agent";
const OTHER = "e2e-agent2";
const GIT_PORT = 2291;
const GIT_ACCOUNT = "podspawn-e2e-git";
let node: NodeHandle;
let clientDir: string;
let agent: ChildProcess;
let agentSock: string;
let agentEnv: NodeJS.ProcessEnv;

before(async () => {
  node = await startNode([USER, OTHER], { projects: ["other"] });
  clientDir = await mkdtemp(join(tmpdir(), "podspawn-e2e-agent-"));
  agentSock = join(clientDir, "agent.sock");
  agent = spawn("ssh-agent", ["-D", "-a", agentSock], { stdio: "ignore" });
  assert.ok(await eventually(() => existsSync(agentSock), 5000), "ssh-agent is listening");
  agentEnv = { ...process.env, SSH_AUTH_SOCK: agentSock };
  const keygen = await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "forwarded-key@e2e", "-f", join(clientDir, "id")]);
  assert.equal(keygen.code, 0, keygen.stderr);
  const added = await runCommand("ssh-add", [join(clientDir, "id")], { env: agentEnv });
  assert.equal(added.code, 0, added.stderr);
});

after(async () => {
  agent?.kill();
  await node?.stop();
  if (clientDir) await rm(clientDir, { recursive: true, force: true });
});

/** The client's agent key, as `ssh-add -l` prints it on the client. */
async function clientListing(): Promise<string> {
  const r = await runCommand("ssh-add", ["-l"], { env: agentEnv });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function sshA(user: string, args: readonly string[], env = agentEnv): Promise<Awaited<ReturnType<NodeHandle["ssh"]>>> {
  return node.ssh(user, ["-A", ...args], { env, timeoutMs: 90_000 });
}

/** A session kept open in the background until `release` (stdin closes); its output so far. */
function openSession(user: string, args: readonly string[]): { child: ChildProcess; out: () => string; release: () => Promise<number | null> } {
  const child = spawn("ssh", [...node.sshArgs(user), `${user}@127.0.0.1`, ...args], { env: agentEnv, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const closed = new Promise<number | null>((r) => child.on("close", r));
  return { child, out: () => out, release: () => (child.stdin!.end(), closed) };
}

describe("agent forwarding (ssh -A)", () => {
  it("lists the client's key inside the container, through a socket of ours in the container", async () => {
    const want = await clientListing();
    const r = await sshA(USER, ['echo "sock=$SSH_AUTH_SOCK"; ls -l "$SSH_AUTH_SOCK"; ssh-add -l']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^sock=\/run\/podspawn\/agent\/s\d+-[0-9a-f]{16}\.sock$/);
    // A socket (not a symlink to a host path), the user's own, nobody else's.
    assert.match(lines[1] ?? "", new RegExp(`^srw------- 1 ${USER} \\S+ 0 `));
    assert.equal(lines[2], want);
    assert.match(want, /forwarded-key@e2e/);
    assert.equal(r.stderr, "", "nothing of ours on stderr when the agent works");
  });

  it("without -A: no SSH_AUTH_SOCK, and ssh-add -l says there is no agent (exit 2)", async () => {
    const r = await node.ssh(USER, ['echo "sock=${SSH_AUTH_SOCK:-none}"; ls /run/podspawn/agent | wc -l; ssh-add -l; echo "rc=$?"'], { env: agentEnv });
    assert.equal(r.code, 0, r.stderr);
    const [sock, , rc] = r.stdout.trim().split("\n");
    assert.equal(sock, "sock=none");
    assert.equal(rc, "rc=2");
    assert.match(r.stderr, /Could not open a connection to your authentication agent/);
  });

  it("another user's container and the user's other project can neither see nor connect to the socket", async () => {
    const held = openSession(USER, ["-A", 'echo "SOCK=$SSH_AUTH_SOCK"; ssh-add -l >/dev/null && echo AGENT-OK; cat']);
    try {
      assert.ok(await eventually(() => held.out().includes("AGENT-OK"), 60_000), held.out());
      const sock = /SOCK=(\S+)/.exec(held.out())?.[1] ?? "";
      assert.match(sock, /^\/run\/podspawn\/agent\//);
      // The same question from elsewhere: the socket's path, with the agent otherwise unreachable.
      const probe = `ls -la /run/podspawn/agent 2>&1; SSH_AUTH_SOCK=${sock} ssh-add -l; echo "rc=$?"`;
      for (const [who, extra] of [[OTHER, []], [USER, ["-o", "SetEnv=PODSPAWN_PROJECT=other"]]] as const) {
        const r = await node.ssh(who, [...extra, probe]);
        assert.equal(r.code, 0, `${who}: ${r.stderr}`);
        assert.doesNotMatch(r.stdout, /\.sock/, `${who} ${extra.join(" ")} sees no agent socket`);
        assert.match(r.stdout, /^rc=2$/m, `${who} ${extra.join(" ")}: ${r.stdout}`);
        assert.match(r.stderr, /Error connecting to agent: No such file or directory/);
      }
      // On the host, sshd's own agent socket for the session is the login account's alone.
      const hostSocks = (await runCommand("find", ["/tmp", "-maxdepth", "2", "-path", "/tmp/ssh-*", "-type", "s", "-user", USER])).stdout.trim().split("\n").filter(Boolean);
      assert.ok(hostSocks.length >= 1, "sshd made the session's agent socket on the host");
      const js = `require("net").connect(${JSON.stringify(hostSocks[0])}).on("connect",()=>{console.log("CONNECTED");process.exit(0)}).on("error",e=>{console.log(e.code);process.exit(0)})`;
      const other = await runCommand("runuser", ["-u", OTHER, "--", process.execPath, "-e", js]);
      assert.equal(other.stdout.trim(), "EACCES", "another pod account cannot reach it on the host");
    } finally {
      assert.equal(await held.release(), 0, held.out());
    }
  });

  it("clones a git repository over ssh from inside the container with the forwarded key, only with -A", async () => {
    const server = await startGitServer();
    try {
      const gitSsh = `ssh -p ${GIT_PORT} -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$HOME/kh -o BatchMode=yes -o IdentitiesOnly=no`;
      const script = `printf '%s\\n' '[${server.address}]:${GIT_PORT} ${server.hostKey}' > "$HOME/kh"; rm -rf "$HOME/clone"; GIT_SSH_COMMAND='${gitSsh}' git clone -q ssh://${GIT_ACCOUNT}@${server.address}/repo.git "$HOME/clone" && cat "$HOME/clone/README"`;
      const withAgent = await sshA(USER, [script]);
      assert.equal(withAgent.code, 0, withAgent.stderr);
      assert.equal(withAgent.stdout, "served through the forwarded agent\n");
      // The same clone without the agent: the container holds no key the server accepts.
      const without = await node.ssh(USER, [script]);
      assert.notEqual(without.code, 0);
      assert.match(without.stderr, /Permission denied \(publickey\)/);
    } finally {
      await server.stop();
    }
  });

  it("an agent request storm stays bounded: at most 8 agent connections at once, the session and later requests fine", async () => {
    const counter = await countingAgentProxy(agentSock, 150);
    try {
      const env = { ...agentEnv, SSH_AUTH_SOCK: counter.path };
      const storm = 'for i in $(seq 40); do (ssh-add -l >/dev/null 2>&1 && echo ok || echo failed) & done; wait; ssh-add -l >/dev/null && echo after-ok';
      const r = await sshA(USER, [storm], env);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      const ok = lines.filter((l) => l === "ok").length;
      const failed = lines.filter((l) => l === "failed").length;
      assert.equal(ok + failed, 40, r.stdout);
      assert.ok(ok >= 8, `at least the bound's worth answered (${ok})`);
      assert.equal(lines.at(-1), "after-ok", "the agent works after the storm");
      assert.ok(counter.maxConcurrent() <= 8, `at most 8 at once reached the client's agent (saw ${counter.maxConcurrent()})`);
      assert.ok(counter.maxConcurrent() >= 2, "the storm did overlap");
      const daemonLog = await readFile(`/var/log/${INSTANCE}-daemon.log`, "utf8");
      assert.doesNotMatch(daemonLog, /internal error|MaxListeners/);
    } finally {
      await counter.close();
    }
  });
});

/**
 * A proxy in front of the client's agent that counts how many connections are open at once, and
 * holds each request `delayMs` so that a storm really overlaps.
 */
async function countingAgentProxy(target: string, delayMs: number): Promise<{ path: string; maxConcurrent: () => number; close: () => Promise<void> }> {
  const path = join(clientDir, `counting-${process.pid}.sock`);
  let open = 0;
  let max = 0;
  const server: Server = createServer((conn: Socket) => {
    open++;
    max = Math.max(max, open);
    const upstream = connect(target);
    conn.on("data", (d) => setTimeout(() => upstream.write(d), delayMs));
    upstream.on("data", (d) => conn.write(d));
    const done = (): void => {
      conn.destroy();
      upstream.destroy();
    };
    conn.once("close", () => {
      open--;
      done();
    });
    upstream.once("close", done);
    conn.on("error", () => undefined);
    upstream.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, maxConcurrent: () => max, close: () => new Promise((r) => server.close(() => r())) };
}

interface GitServer {
  readonly address: string;
  readonly hostKey: string;
  stop(): Promise<void>;
}

/**
 * A network namespace of this test's own, reachable from containers through the host's routing.
 * Its addresses are TEST-NET-2 (RFC 5737): outside the pod pool and the private ranges the egress
 * firewall may block, routed nowhere but to this veth pair.
 */
const GIT_NETNS = "pse2e-agent-git";
const GIT_HOST_SIDE = { dev: "pse2eagit0", ip: "198.51.100.77" };
const GIT_NS_SIDE = { dev: "pse2eagit1", ip: "198.51.100.78" };

/**
 * A second sshd, in a network namespace of its own, accepting only the forwarded key, with a
 * forced git-upload-pack of one repository.
 */
async function startGitServer(): Promise<GitServer> {
  const dropNetns = await vethNetns(GIT_NETNS, GIT_HOST_SIDE, GIT_NS_SIDE);
  const dir = await mkdtemp("/var/lib/podspawn-e2e-git-");
  await chmod(dir, 0o755);
  const repo = join(dir, "repo.git");
  const work = join(dir, "work");
  for (const args of [["init", "-q", "-b", "main", work], ["-C", work, "add", "README"], ["-C", work, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "-q", "-m", "one"], ["clone", "-q", "--bare", work, repo]]) {
    if (args[2] === "add") await writeFile(join(work, "README"), "served through the forwarded agent\n");
    const r = await runCommand("git", args);
    assert.equal(r.code, 0, `git ${args.join(" ")}: ${r.stderr}`);
  }
  await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  const pub = (await readFile(join(clientDir, "id.pub"), "utf8")).trim();
  await writeFile(join(dir, "authorized_keys"), `restrict,command="git-upload-pack ${repo}" ${pub}\n`, { mode: 0o644 });
  await runCommand("useradd", ["--system", "--no-create-home", "--home-dir", dir, "--shell", "/bin/sh", GIT_ACCOUNT]);
  await runCommand("usermod", ["-p", "*", GIT_ACCOUNT]);
  await runCommand("chown", ["-R", GIT_ACCOUNT, repo]);
  const config = [
    `ListenAddress ${GIT_NS_SIDE.ip}:${GIT_PORT}`,
    `HostKey ${dir}/host_key`,
    `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    `AllowUsers ${GIT_ACCOUNT}`,
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "",
  ].join("\n");
  await writeFile(join(dir, "sshd_config"), config);
  const sshd = spawn("nsenter", [`--net=/run/netns/${GIT_NETNS}`, "/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  sshd.stderr!.setEncoding("utf8").on("data", (d: string) => (log += d));
  assert.ok(await eventually(() => /Server listening/.test(log), 10_000), log);
  const hostKey = (await readFile(join(dir, "host_key.pub"), "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
  return {
    address: GIT_NS_SIDE.ip,
    hostKey,
    stop: async () => {
      sshd.kill();
      await new Promise((r) => (sshd.exitCode !== null ? r(null) : sshd.once("close", r)));
      await runCommand("userdel", [GIT_ACCOUNT]);
      await rm(dir, { recursive: true, force: true });
      await dropNetns();
    },
  };
}

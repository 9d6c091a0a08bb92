/**
 * The IDE mode end to end: `podspawn-sshd` runs sshd -i in the user's container as the user, and
 * the real OpenSSH client speaks SSH to it through a ProxyCommand (the outer, pinned ssh to the
 * node). Forwards act in the container's namespace; the inner host key is verified by the node's
 * host CA; the inner login takes only the user's own registered keys.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCommand } from "../../scripts/local-node.js";
import { DEFAULT_TEST_CONFIG, eventually, startNode, type NodeHandle } from "./harness.js";
import { freePort, hostHttpListener, httpGet, innerClient, startContainerHttp, stopSsh, waitForListener, type InnerClient } from "./ide-harness.js";

const USER = "e2e-ide";
const OTHER = "e2e-ide2";
const BARE = "e2e-ide3";
let node: NodeHandle;
let inner: InnerClient;
const children: ChildProcess[] = [];

before(async () => {
  node = await startNode([USER, OTHER, BARE]);
  const probe = execFileSync("docker", ["run", "--rm", "--entrypoint", "/bin/sh", "podspawn/default:bookworm", "-c", "test -x /usr/sbin/sshd && test -x /usr/bin/rsync && echo yes || echo no"]).toString().trim();
  assert.equal(probe, "yes", "podspawn/default:bookworm has no sshd or rsync: rebuild it (node dist/scripts/build-image.js --only default)");
  inner = await innerClient(node, OTHER);
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await node?.stop();
});

function track(child: ChildProcess): ChildProcess {
  children.push(child);
  child.stdout?.resume();
  return child;
}
const exitOf = (c: ChildProcess): Promise<number | null> => (c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once("exit", (code) => r(code))));
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

describe("podspawn-sshd: an inner sshd in the user's container", () => {
  it("logs in with a host certificate from the node's CA and runs the command in the container as the user, stdout byte-exact", async () => {
    const r = await inner.ssh(USER, ["id -un; cat /etc/podspawn/sshd/sshd_config >/dev/null && echo in-container; printf 'a\\0b'"]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${USER}\nin-container\na\0b`);
  });

  it("passes the exit status of the inner command", async () => {
    const r = await inner.ssh(USER, ["exit 7"]);
    assert.equal(r.code, 7, r.stderr);
  });

  it("is refused by the client when the host CA is another one (StrictHostKeyChecking yes)", async () => {
    const r = await inner.ssh(USER, ["echo reached"], { host: "ide-wrong-ca" });
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /Host key verification failed\./);
  });

  it("is refused by the client when no CA is known for the alias", async () => {
    const r = await inner.ssh(USER, ["echo reached"], { host: "ide-unknown" });
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /No ED25519 host key is known for podspawn-ide and you have requested strict checking\./);
    assert.match(r.stderr, /Host key verification failed\./);
  });

  it("refuses another user's registered key at the inner login (the outer login is the user's own)", async () => {
    const r = await inner.ssh(USER, ["echo reached"], { host: "ide-other-key" });
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`${USER}@ide-other-key: Permission denied \\(publickey\\)`));
  });

  it("tells a user whose image has no sshd in one line, exit 255", async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG.replace("image: podspawn/default:bookworm", "image: podspawn/busybox:test"));
    await node.reload();
    try {
      const r = await node.ssh(BARE, ["podspawn-sshd"], { input: "SSH-2.0-test\r\n" });
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, "podspawn: this environment has no sshd; the IDE mode needs openssh-server in its image\n");
      assert.equal(r.code, 255);
    } finally {
      await node.writeConfig(DEFAULT_TEST_CONFIG);
      await node.reload();
    }
  });
});

describe("forwards act in the container's namespace", () => {
  it("-L 127.0.0.1:PORT reaches the container's loopback, never the host's", async () => {
    const port = await freePort();
    const hostOnly = await freePort();
    const hostSame = await hostHttpListener(port, "host");
    const hostAlone = await hostHttpListener(hostOnly, "host-only");
    try {
      await startContainerHttp(node, USER, port, "container");
      const [l1, l2] = [await freePort(), await freePort()];
      const fwd = track(inner.spawnSsh(USER, ["-N", "-o", "ExitOnForwardFailure=yes", "-L", `${l1}:127.0.0.1:${port}`, "-L", `${l2}:127.0.0.1:${hostOnly}`]));
      await waitForListener(l1, fwd);
      assert.equal(await httpGet(l1), "container");
      assert.equal(await httpGet(l2), null, "a port only the host listens on is not reached");
      assert.equal(hostSame.connections(), 0, "the host's listener on the same port saw no connection");
      assert.equal(hostAlone.connections(), 0, "the host-only listener saw no connection");
      await stopSsh(fwd);
    } finally {
      await hostSame.close();
      await hostAlone.close();
    }
  });

  it("-D with curl --socks5-hostname resolves and connects inside the container", async () => {
    const port = await freePort();
    const hostSame = await hostHttpListener(port, "host");
    try {
      await startContainerHttp(node, USER, port, "socks-container");
      const socks = await freePort();
      const fwd = track(inner.spawnSsh(USER, ["-N", "-o", "ExitOnForwardFailure=yes", "-D", `127.0.0.1:${socks}`]));
      await waitForListener(socks, fwd);
      const r = await runCommand("curl", ["-sS", "--max-time", "20", "--socks5-hostname", `127.0.0.1:${socks}`, `http://localhost:${port}/`]);
      assert.equal(r.stdout, "socks-container", r.stderr);
      assert.equal(hostSame.connections(), 0);
      await stopSsh(fwd);
    } finally {
      await hostSame.close();
    }
  });

  it("-R from the container back to a listener on the client", async () => {
    const client = await hostHttpListener(0, "from-the-client");
    try {
      const remote = 20000 + (client.port % 20000);
      const r = await inner.ssh(USER, ["-o", "ExitOnForwardFailure=yes", "-R", `127.0.0.1:${remote}:127.0.0.1:${client.port}`, `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${remote}; printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3'`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\r\n\r\nfrom-the-client$/);
      assert.equal(client.connections(), 1);
    } finally {
      await client.close();
    }
  });

  it("-A: ssh-add -l in the container lists the client agent's key", async () => {
    const sock = join(node.clientDir, "agent.sock");
    const agent = track(execAgent(sock));
    try {
      assert.ok(await eventually(async () => (await runCommand("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: sock } })).code === 1, 10_000), "the agent answers (no keys yet)");
      const key = join(node.clientDir, "agent-key");
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "agent-key@client", "-f", key]);
      execFileSync("ssh-add", ["-q", key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const fingerprint = execFileSync("ssh-keygen", ["-lf", `${key}.pub`]).toString().split(" ")[1] ?? "";
      const r = await inner.ssh(USER, ["-A", "ssh-add -l"], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^256 ${fingerprint.replace(/[+/]/g, "\\$&")} agent-key@client \\(ED25519\\)\n$`));
      const without = await inner.ssh(USER, ["ssh-add -l"], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      assert.equal(without.code, 2, "without -A there is no agent in the session");
    } finally {
      agent.kill("SIGTERM");
    }
  });
});

/** A real ssh-agent in the foreground on `sock`. */
function execAgent(sock: string): ChildProcess {
  return spawn("ssh-agent", ["-D", "-a", sock], { stdio: ["ignore", "pipe", "pipe"] });
}

describe("file transfer through the inner session", () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  let local: string;
  before(async () => {
    local = join(node.clientDir, "payload.bin");
    await writeFile(local, data);
  });

  it("scp up and down, byte-exact", async () => {
    const up = await runCommand("scp", ["-q", "-F", inner.configFile, local, `${USER}@ide:scp.bin`]);
    assert.equal(up.code, 0, up.stderr);
    const back = join(node.clientDir, "scp-back.bin");
    const down = await runCommand("scp", ["-q", "-F", inner.configFile, `${USER}@ide:scp.bin`, back]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(sha(await readFile(back)), sha(data));
    const remote = await inner.ssh(USER, ["sha256sum scp.bin"]);
    assert.equal(remote.stdout.split(" ")[0], sha(data));
  });

  it("sftp put and get, byte-exact", async () => {
    const back = join(node.clientDir, "sftp-back.bin");
    const r = await runCommand("sftp", ["-q", "-F", inner.configFile, "-b", "-", `${USER}@ide`], { input: `put ${local} sftp.bin\nget sftp.bin ${back}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(await readFile(back)), sha(data));
  });

  it("rsync both ways, byte-exact", async () => {
    const e = `ssh -F ${inner.configFile}`;
    const up = await runCommand("rsync", ["-a", "-e", e, local, `${USER}@ide:rsync.bin`]);
    assert.equal(up.code, 0, up.stderr);
    const back = join(node.clientDir, "rsync-back.bin");
    const down = await runCommand("rsync", ["-a", "-e", e, `${USER}@ide:rsync.bin`, back]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(sha(await readFile(back)), sha(data));
  });
});

describe("VS Code Remote-SSH, emulated", () => {
  it("a shell over ssh -T -D, a server started in the container, reached through the SOCKS forward", async () => {
    const socks = await freePort();
    const serverPort = await freePort();
    const shell = track(inner.spawnSsh(USER, ["-T", "-D", `127.0.0.1:${socks}`]));
    shell.stdout?.removeAllListeners("data");
    let out = "";
    shell.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    let err = "";
    shell.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    // What VS Code's bootstrap does: start its server, which prints where it listens and then logs
    // to a file (here: closes its stdout, so the shell's exit ends the session).
    const perl = `$SIG{CHLD}="IGNORE"; my $s=IO::Socket::INET->new(LocalAddr=>"127.0.0.1",LocalPort=>${serverPort},Listen=>16,ReuseAddr=>1) or die $!; print "listeningOn==${serverPort}==\\n"; close STDOUT; while (my $c=$s->accept) { if (fork) { close $c; next } my $l; while (defined($l=<$c>)) { last if $l =~ /^\\r?\\n$/ } print $c "HTTP/1.0 200 OK\\r\\nContent-Length: 13\\r\\n\\r\\nvscode-server"; close $c; exit }`;
    shell.stdin?.write(`echo "bootstrap in $(pwd) as $(id -un)"\nsetsid perl -MIO::Socket::INET -e '${perl}' </dev/null 2>/dev/null &\n`);
    assert.ok(await eventually(() => /listeningOn==\d+==/.test(out), 30_000), `server announced itself; stdout ${JSON.stringify(out)} stderr ${JSON.stringify(err)}`);
    assert.match(out, new RegExp(`^bootstrap in /home/${USER} as ${USER}\n`));
    await waitForListener(socks, shell);
    const r = await runCommand("curl", ["-sS", "--max-time", "20", "--socks5-hostname", `127.0.0.1:${socks}`, `http://127.0.0.1:${serverPort}/`]);
    assert.equal(r.stdout, "vscode-server", r.stderr);
    shell.stdin?.end("exit 0\n");
    assert.equal(await exitOf(shell), 0, err);
    assert.equal(err, "");
  });
});

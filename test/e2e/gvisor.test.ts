/**
 * A node with `oci_runtime: runsc`: every session container is a gVisor sandbox, registered with
 * dockerd by scripts/provision-host.sh (`runsc --network=host --oci-seccomp`). Real ssh, scp, sftp,
 * a PTY and `podspawn forward` work in it; the engine says the runtime is runsc and the kernel
 * inside says it is gVisor (so a runtime silently not applied fails here); the container spec's
 * hardening holds; and with `--network=host` the sandbox uses the container's own network
 * namespace, so the per-user bridge and the egress firewall still apply: tried by real
 * connections against listeners that answer whoever gets through.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AGENT_UNAVAILABLE_LINE } from "../../agent/src/daemon/session/agent-forwarding.js";
import { runCommand } from "../../scripts/local-node.js";
import { DEFAULT_TEST_CONFIG, eventually, INSTANCE, startNode, type NodeHandle } from "./harness.js";
import { exchange } from "./tcp-exchange.js";
import { startEcho, startForward } from "./port-forward.js";
import { bridgeGateway, fromHost, listenOnHost, probe, startMetadataStandIn } from "./metadata-stand-in.js";

const ALICE = "e2e-gv-alice";
const BOB = "e2e-gv-bob";
const ECHO_PORT = 7090;
const containerOf = (user: string): string => `${INSTANCE}.${user}.default`;
const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
let node: NodeHandle;
let dropStandIn: (() => Promise<void>) | undefined;
const started: ChildProcess[] = [];

interface Inspected {
  HostConfig: { Runtime: string; CapDrop: string[] | null; CapAdd: string[] | null; SecurityOpt: string[] | null; PidsLimit: number; Privileged: boolean };
  Config: { User: string };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}
const inspect = (name: string): Inspected => (JSON.parse(execFileSync("docker", ["inspect", name], { encoding: "utf8" })) as Inspected[])[0]!;
/** The network checks below mean something only if the container tried from is a sandbox. */
const assertSandboxed = (user: string): void => assert.equal(inspect(containerOf(user)).HostConfig.Runtime, "runsc", `${user}'s container runs on runsc`);

before(async () => {
  node = await startNode([ALICE, BOB]);
  await node.writeConfig(`${DEFAULT_TEST_CONFIG}oci_runtime: runsc\n`);
  await node.restartDaemon();
  dropStandIn = await startMetadataStandIn({ netns: "pst-gvmeta", hostDev: "pst-gvmeta-h", nsDev: "pst-gvmeta-n" });
});
after(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await dropStandIn?.();
  await node?.stop();
});

describe("a gVisor (runsc) node", () => {
  it("runs a command session in a gVisor sandbox: the engine says runsc, the kernel inside says gVisor", async () => {
    const r = await node.ssh(ALICE, ["echo out; echo err >&2; cat /proc/version; dmesg | head -1; exit 3"]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^out\nLinux version 4\.4\.0 .*\n\[ *[\d.]+\] Starting gVisor\.\.\.\n$/);
    assert.match(r.stderr, /(^|\n)err\n$/);
    assert.equal(inspect(containerOf(ALICE)).HostConfig.Runtime, "runsc");
  });

  it("keeps the container spec's hardening: no capabilities, no-new-privileges, the user's own uid, pids limit of 1024; Docker's seccomp filter on the container's own processes only", async () => {
    const c = inspect(containerOf(ALICE));
    assert.deepEqual(c.HostConfig.CapDrop, ["ALL"]);
    assert.deepEqual(c.HostConfig.CapAdd ?? [], []);
    assert.equal(c.HostConfig.Privileged, false);
    assert.ok(c.HostConfig.SecurityOpt?.includes("no-new-privileges:true"), String(c.HostConfig.SecurityOpt));
    assert.equal(c.Config.User, "65534:65534");
    // The node's config asks for 256; the sandbox's own threads count against the limit (64 kills it).
    assert.equal(c.HostConfig.PidsLimit, 1024);
    const hostUid = Number(execFileSync("id", ["-u", ALICE], { encoding: "utf8" }).trim());
    const r = await node.ssh(ALICE, ["id -u; grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status; grep '^Seccomp:' /proc/1/status"]);
    assert.equal(r.code, 0, r.stderr);
    // Filter mode (2) for the container's init: runsc applies the profile only with --oci-seccomp,
    // which provision-host registers. A session (docker exec) gets none from this runsc build
    // (0): docs/security.md says so; its syscalls go to gVisor's kernel, not the host's.
    assert.equal(r.stdout, `${100000 + hostUid}\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nSeccomp:\t0\nSeccomp:\t2\n`);
  });

  it("gives a PTY shell (ssh -tt): an interactive login shell on a terminal, its exit code back", async () => {
    // `tty` says "not a tty" here: the terminal is a host pty handed into the sandbox, with no
    // /dev/pts entry inside (isatty still holds, and bash runs interactive).
    const r = await runCommand("ssh", ["-tt", ...node.sshArgs(ALICE), `${ALICE}@127.0.0.1`], { input: "[ -t 0 ] && [ -t 1 ] && echo TERMINAL-$((6*7)); echo SHELL-$-; exit 7\n" });
    assert.equal(r.code, 7, r.stderr + r.stdout);
    assert.match(r.stdout, /^TERMINAL-42\r?$/m);
    assert.match(r.stdout, /^SHELL-\S*i\S*\r?$/m, "the shell is interactive");
    assert.match(r.stdout, /e2e-gv-alice@default:~\$ /, "the login shell's prompt");
  });

  it("copies files with sftp and with scp, both protocols, byte for byte", async () => {
    const local = join(node.clientDir, "gv-upload.bin");
    const back = join(node.clientDir, "gv-download.bin");
    const data = randomBytes(1024 * 1024 + 7);
    await writeFile(local, data);
    const batch = join(node.clientDir, "gv-batch");
    await writeFile(batch, `put ${local} upload.bin\nget upload.bin ${back}\n`);
    const portArgs = node.sshArgs(ALICE).map((a) => (a === "-p" ? "-P" : a));
    const s = await runCommand("sftp", [...portArgs, "-b", batch, `${ALICE}@127.0.0.1`]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(sha256(await readFile(back)), sha256(data));
    for (const legacy of [[], ["-O"]]) {
      const up = await runCommand("scp", [...portArgs, ...legacy, local, `${ALICE}@127.0.0.1:scp-in.bin`]);
      assert.equal(up.code, 0, up.stderr);
      const down = await runCommand("scp", [...portArgs, ...legacy, `${ALICE}@127.0.0.1:scp-in.bin`, `${back}.scp`]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(sha256(await readFile(`${back}.scp`)), sha256(data), `scp ${legacy.join(" ")}`);
    }
  });

  it("forwards a local port into the sandbox with podspawn forward", async () => {
    await startEcho(node, ALICE, ECHO_PORT);
    const fwd = await startForward(node, ALICE, ECHO_PORT);
    started.push(fwd.child);
    const data = randomBytes(100 * 1024);
    assert.ok((await exchange(fwd.port, data)).equals(data), "the bytes come back intact");
    fwd.child.kill("SIGINT");
    assert.equal(await fwd.exited, 0, fwd.stderr());
  });
});

describe("agent forwarding on a gVisor node", () => {
  it("ssh -A with a live agent: the session runs, says in one line that the agent is not available, and has no SSH_AUTH_SOCK", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pst-gv-agent-"));
    const sock = join(dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    started.push(agent);
    try {
      assert.ok(await eventually(() => existsSync(sock), 5000), "ssh-agent is listening");
      const env = { ...process.env, SSH_AUTH_SOCK: sock };
      assert.equal((await runCommand("ssh-add", [node.keyFor(ALICE)], { env })).code, 0, "the client's agent holds a key");
      const r = await runCommand("ssh", ["-A", ...node.sshArgs(ALICE), `${ALICE}@127.0.0.1`, 'echo "sock=${SSH_AUTH_SOCK:-none}"'], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "sock=none\n");
      assert.ok(r.stderr.split("\n").includes(`podspawn: ${AGENT_UNAVAILABLE_LINE}`), r.stderr);
    } finally {
      agent.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a gVisor node's network (runsc --network=host: the container's own namespace)", () => {
  it("the sandbox has the container's own address on the user's bridge, not the host's interfaces", async () => {
    await node.ssh(ALICE, ["true"]);
    assertSandboxed(ALICE);
    const ip = Object.values(inspect(containerOf(ALICE)).NetworkSettings.Networks)[0]?.IPAddress ?? "";
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    const r = await node.ssh(ALICE, ["cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; hostname -I"]);
    assert.equal(r.code, 0, r.stderr);
    const [ifaces, addresses] = [r.stdout.split("\n").slice(0, -2).sort(), r.stdout.split("\n").at(-2)?.trim()];
    assert.deepEqual(ifaces, ["eth0", "lo"], r.stdout);
    assert.equal(addresses, ip);
  });

  it("another user's container is unreachable: a listener in alice's sandbox answers her and the host, never bob's", async () => {
    const port = 7191;
    const server = `perl -MIO::Socket::INET -e '$|=1; my $s=IO::Socket::INET->new(LocalAddr=>"0.0.0.0",LocalPort=>${port},Listen=>8,ReuseAddr=>1) or die $!; print "listening\\n"; while (my $c=$s->accept) { print "accepted\\n"; print $c "from-alice\\n"; close $c }'`;
    const listener = spawn("ssh", [...node.sshArgs(ALICE), `${ALICE}@127.0.0.1`, server], { stdio: ["pipe", "pipe", "pipe"] });
    started.push(listener);
    let out = "";
    listener.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const accepted = (): number => out.split("\n").filter((l) => l === "accepted").length;
    try {
      assert.ok(await eventually(() => out.includes("listening\n"), 30_000), "alice's listener started");
      const ip = Object.values(inspect(containerOf(ALICE)).NetworkSettings.Networks)[0]?.IPAddress ?? "";
      assert.equal((await node.ssh(ALICE, [probe(ip, port)])).stdout, "from-alice\nrc=0\n");
      assert.equal(await fromHost(ip, port), "from-alice\nrc=0\n", "the address answers from outside the sandbox too");
      assert.ok(await eventually(() => accepted() === 2, 5000), `listener output: ${out}`);
      const other = await node.ssh(BOB, [probe(ip, port)]);
      assertSandboxed(BOB);
      assert.doesNotMatch(other.stdout, /from-alice/);
      assert.match(other.stdout, /^rc=(124|1)\n$/, other.stderr);
      assert.equal(await eventually(() => accepted() > 2, 2000), false, "bob's attempt never reached alice's listener");
    } finally {
      listener.kill();
    }
  });

  it("the cloud metadata address is unreachable (a live stand-in on 169.254.169.254:80 answers the host, never the sandbox)", async () => {
    assert.equal(await fromHost("169.254.169.254", 80), "METADATA\nrc=0\n", "the stand-in answers when reached");
    const r = await node.ssh(ALICE, [probe("169.254.169.254", 80)]);
    assertSandboxed(ALICE);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /METADATA/);
    assert.match(r.stdout, /^rc=(124|1)\n$/);
  });

  it("the host's own services on the bridge gateway are unreachable (a listener there answers the host)", async () => {
    const { port, close } = await listenOnHost();
    try {
      const gateway = await bridgeGateway(`${INSTANCE}.${ALICE}`);
      assert.equal(await fromHost(gateway, port), "HOST-SERVICE\nrc=0\n");
      const r = await node.ssh(ALICE, [probe(gateway, port), "; ", probe("127.0.0.1", port)]);
      assertSandboxed(ALICE);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /HOST-SERVICE/);
      assert.match(r.stdout, /^rc=(124|1)\nrc=1\n$/, "the gateway drops the connection; the sandbox's loopback is its own");
    } finally {
      close();
    }
  });
});


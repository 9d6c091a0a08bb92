import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCommand } from "../../scripts/local-node.js";
import { DEFAULT_TEST_CONFIG, eventually, INSTANCE, layout, startNode, type NodeHandle } from "./harness.js";

const ALICE = "e2e-alice";
const BOB = "e2e-bob";
let node: NodeHandle;

before(async () => {
  node = await startNode([ALICE, BOB], { projects: ["keep", "orphan"] });
});
after(async () => {
  await node?.stop();
});

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const containerOf = (user: string, project = "default"): string => `${INSTANCE}.${user}.${project}`;

describe("commands over ssh", () => {
  it("prints a command's stdout", async () => {
    const r = await node.ssh(ALICE, ["echo", "hello from the pod"]);
    assert.equal(r.stdout, "hello from the pod\n", r.stderr);
    assert.equal(r.code, 0);
  });

  it("returns the command's exit status (42)", async () => {
    const r = await node.ssh(ALICE, ["exit 42"]);
    assert.equal(r.code, 42, r.stderr);
  });

  it("pipes stdin through the command (wc -l) and ends at EOF", async () => {
    const r = await node.ssh(ALICE, ["wc", "-l"], { input: "one\ntwo\nthree\n" });
    assert.equal(r.stdout.trim(), "3", r.stderr);
  });

  it("keeps stderr separate from stdout", async () => {
    const r = await node.ssh(ALICE, ["echo out; echo err >&2"]);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
  });

  it("delivers all output to a slow reader before exiting, even after the daemon has hung up", async () => {
    // spawn run the way sshd runs it, piped into a reader that waits before reading. 64 KiB fill
    // the pipe; the last 8 KiB stay queued in spawn's stdout below its high-water mark, so spawn
    // keeps reading, decodes EXIT and sees the daemon close while that tail is still unwritten.
    const size = 64 * 1024 + 8 * 1024;
    const pipeline = `runuser -u ${ALICE} -- env "SSH_ORIGINAL_COMMAND=head -c ${size} /dev/zero" ${layout.command} spawn --user ${ALICE} | (sleep 1.5; wc -c); echo "status=\${PIPESTATUS[0]}"`;
    const r = await runCommand("bash", ["-c", pipeline]);
    assert.equal(r.stdout.trim().split(/\s+/).join(" "), `${size} status=0`, r.stderr);
    assert.equal(r.stderr, "");
  });

  it("runs as the pod user, not root, inside the container and not on the host", async () => {
    const r = await node.ssh(ALICE, ["id -un; id -u; hostname; cat /proc/1/cgroup | head -1; echo $HOME"]);
    const [name, uid, host, , home] = r.stdout.split("\n");
    assert.equal(name, ALICE);
    const hostUid = Number(execFileSync("id", ["-u", ALICE]).toString().trim());
    assert.equal(Number(uid), 100_000 + hostUid, `uid ${uid} is 100000 + the host account's uid ${hostUid}`);
    assert.equal(host, "default");
    assert.equal(home, `/home/${ALICE}`);
  });

  it("gives each user's session processes a host uid of their own that no host account has (security finding 3)", async () => {
    const hostUids = new Set(execFileSync("getent", ["passwd"]).toString().split("\n").filter(Boolean).map((l) => Number(l.split(":")[2])));
    const onHost = new Map<string, number>();
    for (const user of [ALICE, BOB]) {
      // A process left running in the user's container, found from the host by its name.
      const r = await node.ssh(user, [`setsid bash -c 'exec -a uidprobe-${user} sleep 120' >/dev/null 2>&1 </dev/null &`]);
      assert.equal(r.code, 0, r.stderr);
    }
    try {
      assert.ok(
        await eventually(() => {
          for (const line of execFileSync("ps", ["-eo", "uid=,args="]).toString().split("\n")) {
            const m = /^\s*(\d+)\s+uidprobe-(\S+) 120$/.exec(line);
            if (m?.[2]) onHost.set(m[2], Number(m[1]));
          }
          return onHost.size === 2;
        }, 10_000),
        "both probes are visible on the host",
      );
      for (const user of [ALICE, BOB]) assert.equal(onHost.get(user), 100_000 + Number(execFileSync("id", ["-u", user]).toString().trim()), user);
      assert.notEqual(onHost.get(ALICE), onHost.get(BOB), "two users' processes share a host uid");
      for (const [user, uid] of onHost) assert.ok(!hostUids.has(uid), `${user}'s processes run as ${uid}, a host account's uid`);
    } finally {
      for (const user of [ALICE, BOB]) await node.ssh(user, [`pkill -f uidprobe-${user} || true`]);
    }
  });

  it("starts with the image's skeleton dotfiles in a home the user owns", async () => {
    const r = await node.ssh(ALICE, ["ls -A ~ | grep -c '^\\.bashrc$\\|^\\.profile$'; stat -c '%U %a' ~ ~/.bashrc"]);
    assert.equal(r.stdout, `2\n${ALICE} 750\n${ALICE} 644\n`, r.stderr);
  });

  it("gives no PTY without -t, even for a login shell (ssh -T)", async () => {
    const r = await node.ssh(ALICE, ["-T"], { input: "tty; echo done\n" });
    assert.match(r.stdout, /not a tty/);
    assert.match(r.stdout, /done/);
  });

  it("gives a PTY with -t even when a command is given", async () => {
    const r = await node.ssh(ALICE, ["-tt", "tty"], { input: "" });
    assert.match(r.stdout, /^\/dev\/pts\/\d+/);
  });

  it("runs with every capability dropped and no-new-privileges", async () => {
    const r = await node.ssh(ALICE, ["grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"]);
    assert.match(r.stdout, /CapEff:\s+0000000000000000/);
    assert.match(r.stdout, /CapBnd:\s+0000000000000000/);
    assert.match(r.stdout, /NoNewPrivs:\s+1/);
  });

  it("counts the command sessions in 'podspawn metrics', in valid exposition format", async () => {
    assert.equal((await node.ssh(ALICE, ["true"])).code, 0);
    const m = await node.podspawn(["metrics"]);
    assert.equal(m.code, 0, m.stderr);
    const started = /^podspawn_sessions_started_total\{kind="command"\} (\S+)$/m.exec(m.stdout);
    assert.ok(started?.[1] !== undefined && Number(started[1]) >= 1, m.stdout);
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf)$/;
    for (const line of m.stdout.trimEnd().split("\n")) {
      if (!line.startsWith("#")) assert.match(line, sample);
    }
  });
});

describe("file transfer", () => {
  it("sftp put then get returns a byte-identical file", async () => {
    const local = join(node.clientDir, "upload.bin");
    const back = join(node.clientDir, "download.bin");
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(local, data);
    const batch = join(node.clientDir, "batch");
    await writeFile(batch, `put ${local} upload.bin\nget upload.bin ${back}\n`);
    const r = await runCommand("sftp", [...node.sshArgs(ALICE).map((a) => (a === "-p" ? "-P" : a)), "-b", batch, `${ALICE}@127.0.0.1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(await readFile(back)), sha256(data));
    const inside = await node.ssh(ALICE, ["sha256sum upload.bin"]);
    assert.equal(inside.stdout.split(" ")[0], sha256(data));
  });

  it("scp (sftp protocol) and scp -O (legacy scp protocol) both copy files in and out", async () => {
    const local = join(node.clientDir, "scp.txt");
    await writeFile(local, "scp payload\n");
    const scpArgs = node.sshArgs(ALICE).map((a) => (a === "-p" ? "-P" : a));
    for (const legacy of [[], ["-O"]]) {
      const up = await runCommand("scp", [...scpArgs, ...legacy, local, `${ALICE}@127.0.0.1:scp-in.txt`]);
      assert.equal(up.code, 0, up.stderr);
      const down = await runCommand("scp", [...scpArgs, ...legacy, `${ALICE}@127.0.0.1:scp-in.txt`, `${local}.back`]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(await readFile(`${local}.back`, "utf8"), "scp payload\n");
    }
  });
});

describe("container lifecycle", () => {
  it("two simultaneous sessions of one user share one container", async () => {
    const [a, b] = await Promise.all([node.ssh(ALICE, ["hostname -I; cat /proc/1/stat | cut -d' ' -f22; sleep 1"]), node.ssh(ALICE, ["hostname -I; cat /proc/1/stat | cut -d' ' -f22; sleep 1"])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout, "both sessions see the same container (same IP and PID 1 start time)");
    assert.deepEqual(node.containers().filter((l) => l.startsWith(containerOf(ALICE))).length, 1);
  });

  it("ten simultaneous first logins create exactly one container and one network", async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => node.ssh(BOB, ["cat /etc/hostname"])));
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "", "no progress text on stderr without a terminal");
    }
    assert.equal(node.containers().filter((l) => l.startsWith(containerOf(BOB))).length, 1);
    assert.equal(node.networks().filter((n) => n === `${INSTANCE}.${BOB}`).length, 1);
  });

  it("users cannot reach each other's containers: a listener in alice's answers her own container and the host, never bob's", async () => {
    const port = 7171;
    // Runs in a live session (a background process would go with the container after the grace
    // period); one line per accepted connection, so the test can count who got through.
    const server = `perl -MIO::Socket::INET -e '$|=1; my $s=IO::Socket::INET->new(LocalAddr=>"0.0.0.0",LocalPort=>${port},Listen=>8,ReuseAddr=>1) or die $!; print "listening\\n"; while (my $c=$s->accept) { print "accepted\\n"; print $c "from-alice\\n"; close $c }'`;
    const listener = spawn("ssh", [...node.sshArgs(ALICE), `${ALICE}@127.0.0.1`, server], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    listener.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const accepted = (): number => out.split("\n").filter((l) => l === "accepted").length;
    try {
      assert.ok(await eventually(() => out.includes("listening\n"), 30_000), "alice's listener started");
      const ip = execFileSync("docker", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", containerOf(ALICE)], { encoding: "utf8" }).trim();
      assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
      const probe = `timeout 3 bash -c 'exec 3<>/dev/tcp/${ip}/${port} && head -1 <&3'; echo "rc=$?"`;
      const own = await node.ssh(ALICE, [probe]);
      assert.equal(own.stdout, "from-alice\nrc=0\n", own.stderr);
      const fromHost = await runCommand("bash", ["-c", probe]);
      assert.equal(fromHost.stdout, "from-alice\nrc=0\n", "the address answers from outside the container too");
      // The listener's lines travel through its own ssh session: wait for them, do not race them.
      assert.ok(await eventually(() => accepted() === 2, 5000), `listener output: ${out}`);
      const other = await node.ssh(BOB, [probe]);
      assert.doesNotMatch(other.stdout, /from-alice/);
      assert.match(other.stdout, /^rc=(124|1)\n$/, other.stderr);
      assert.equal(await eventually(() => accepted() > 2, 2000), false, "bob's attempt never reached alice's listener");
      assert.ok(node.networks().includes(`${INSTANCE}.${ALICE}`) && node.networks().includes(`${INSTANCE}.${BOB}`), "one network per user");
    } finally {
      listener.kill();
    }
  });

  it("removes the container and network after the grace period once the last session ends", async () => {
    const user = BOB;
    await node.ssh(user, ["true"]);
    assert.ok(node.containers().some((l) => l.startsWith(containerOf(user))));
    // grace_period is 3 s in the test config
    const gone = await eventually(() => !node.containers().some((l) => l.startsWith(containerOf(user))), 15_000, 250);
    assert.ok(gone, "container removed after the grace period");
    assert.ok(node.networks().includes(`${INSTANCE}.${user}`), "network lingers after the last container (network_linger: 2s)");
    assert.ok(await eventually(() => !node.networks().includes(`${INSTANCE}.${user}`), 8000), "network removed after the linger");
  });

  it("a login during the grace period reuses the container instead of creating a new one", async () => {
    await node.ssh(ALICE, ["touch ~/marker"]);
    const r = await node.ssh(ALICE, ["ls ~/marker"]);
    assert.equal(r.code, 0, "file from the previous session still there");
  });

  it("a client killed mid-session leaves no session counted", async () => {
    const child = spawn("ssh", [...node.sshArgs(ALICE), `${ALICE}@127.0.0.1`, "sleep 300"], { stdio: "ignore" });
    assert.ok(await eventually(async () => (await node.status()).sessions.some((s) => s.user === ALICE), 15_000), "session visible while the client runs");
    const shown = await node.podspawn(["status"]);
    assert.match(shown.stdout, new RegExp(`^${containerOf(ALICE).replace(/\./g, "\\.")}\\s+${ALICE}\\s+default\\s+1\\s+in-use$`, "m"), shown.stdout + shown.stderr);
    child.kill("SIGKILL");
    assert.ok(await eventually(async () => !(await node.status()).sessions.some((s) => s.user === ALICE), 15_000), "session count dropped after the client died");
  });

  it("restarts a container that was stopped behind the daemon's back", async () => {
    await node.ssh(ALICE, ["true"]);
    await runCommand("docker", ["stop", "-t", "1", containerOf(ALICE)]);
    const r = await node.ssh(ALICE, ["echo back"]);
    assert.equal(r.stdout, "back\n", r.stderr);
  });

  it("adopts existing containers from their labels after a daemon restart", async () => {
    await node.ssh(ALICE, ["touch ~/survives-restart"]);
    await node.restartDaemon();
    const r = await node.ssh(ALICE, ["ls ~/survives-restart"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await eventually(() => !node.containers().some((l) => l.startsWith(containerOf(ALICE))), 15_000, 250), "adopted container is still reaped after the grace period");
  });
});

describe("idle timeout", () => {
  before(async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG.replace("grace_period: 3s", "grace_period: 3s\n  idle_timeout: 2s"));
    await node.reload();
  });
  after(async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG);
    await node.reload();
  });

  it("closes a session with no input or output for idle_timeout, with one line saying why", async () => {
    const started = Date.now();
    const r = await node.ssh(ALICE, ["sleep 60"]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /^podspawn: session closed after 2 s without input or output/);
    assert.ok(Date.now() - started < 20_000, "closed long before the command would have ended");
    assert.ok(await eventually(async () => !(await node.status()).sessions.some((s) => s.user === ALICE), 5000), "session released");
  });

  it("keeps a session that keeps producing output", async () => {
    const r = await node.ssh(ALICE, ["for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.5; done"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 8);
  });
});

describe("persistent mode", () => {
  before(async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG.replace("mode: grace-period", "mode: persistent"));
    await node.reload();
  });
  after(async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG);
    await node.reload();
  });

  it("keeps the home directory in a named volume across container removal", async () => {
    const r = await node.ssh(BOB, ["-o", "SetEnv=PODSPAWN_PROJECT=keep", "echo kept > ~/notes.txt"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await eventually(() => !node.containers().some((l) => l.startsWith(containerOf(BOB, "keep"))), 15_000, 250), "container removed after the grace period");
    const again = await node.ssh(BOB, ["-o", "SetEnv=PODSPAWN_PROJECT=keep", "cat ~/notes.txt; stat -c %U ~"]);
    assert.equal(again.stdout, `kept\n${BOB}\n`, again.stderr);
  });

  it("remove-user deletes the user's home volumes, so a new account of that name starts empty", async () => {
    const volume = `${INSTANCE}.${BOB}.keep.home`;
    const volumes = (): string => execFileSync("docker", ["volume", "ls", "-q"], { encoding: "utf8" });
    assert.match(volumes(), new RegExp(volume.replace(/\./g, "\\.")));
    const removed = await node.podspawn(["remove-user", BOB, "--force"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.ok(await eventually(() => !volumes().includes(volume), 10_000), "volume removed");
    const added = await node.podspawn(["add-user", BOB, "--key-file", `${node.keyFor(BOB)}.pub`]);
    assert.equal(added.code, 0, added.stderr);
    assert.ok(await eventually(async () => (await node.ssh(BOB, ["true"])).code === 0, 10_000, 300));
    const r = await node.ssh(BOB, ["-o", "SetEnv=PODSPAWN_PROJECT=keep", "ls ~/notes.txt"]);
    assert.notEqual(r.code, 0, "the old file is gone");
  });
  it("a user removed while the daemon was down loses container and home volume when it starts again", async () => {
    const r = await node.ssh(BOB, ["-o", "SetEnv=PODSPAWN_PROJECT=orphan", "echo x > ~/left-behind"]);
    assert.equal(r.code, 0, r.stderr);
    const volume = `${INSTANCE}.${BOB}.orphan.home`;
    const volumes = (): string => execFileSync("docker", ["volume", "ls", "-q"], { encoding: "utf8" });
    const { stopDaemon, startDaemon } = await import("../../scripts/local-node.js");
    await stopDaemon(INSTANCE);
    const removed = await node.podspawn(["remove-user", BOB, "--force"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.ok(volumes().includes(volume), "nothing could remove the volume while the daemon was down");
    await startDaemon({ instance: INSTANCE, logFile: `/var/log/${INSTANCE}-daemon.log` });
    assert.ok(await eventually(() => !volumes().includes(volume) && !node.containers().some((l) => l.startsWith(containerOf(BOB, "orphan"))), 15_000, 250), "the daemon removed them");
    const added = await node.podspawn(["add-user", BOB, "--key-file", `${node.keyFor(BOB)}.pub`]);
    assert.equal(added.code, 0, added.stderr);
    assert.ok(await eventually(async () => (await node.ssh(BOB, ["true"])).code === 0, 10_000, 300));
  });
});

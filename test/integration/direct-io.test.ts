import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DockerRuntime } from "../../agent/src/adapters/docker/docker-runtime.js";
import { claimStdio } from "../../agent/src/adapters/proc/claimed-stdio.js";
import { recordPathOf, startRuncExec, type DirectProcess, type RuncExecOptions } from "../../agent/src/adapters/runc/runc-exec.js";
import { killSessionProcesses, sessionPids } from "../../agent/src/adapters/proc/session-processes.js";
import { sessionRecordOf } from "../../agent/src/daemon/direct-io/direct-io.js";
import { containerSpec, networkSpec } from "../../agent/src/core/container/container-spec.js";
import type { ExecPlan } from "../../agent/src/core/container/exec-plan.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import { readCidr } from "../../agent/src/core/net/cidr.js";
import { engineRuntimeProblem } from "../../agent/src/core/direct-io/runc-exec-args.js";
import { dockerLines, removeInstanceContainers, runCommand } from "../../scripts/local-node.js";

/**
 * The direct stdio path against the real engine and runc: a process started by `runc exec` with
 * a holder process's pipes must be confined exactly like one started by the engine's exec, and
 * every refused claim must leave nothing open in this (the daemon's) process.
 */
const instance = `podspawn-dio${randomBytes(3).toString("hex")}`;
const runtime = new DockerRuntime();
const dir = mkdtempSync(join(tmpdir(), "pst-dio-"));
const RUNC = "/usr/sbin/runc";
const TARGET = { root: "/run/docker/runtime-runc/moby", systemdCgroup: false, logFile: join(dir, "runc.log") };
const NODE = readlinkSync("/proc/self/exe");
let containerId = "";

const plan = (cmd: string): ExecPlan => ({ kind: "command", argv: ["/bin/sh", "-c", cmd], tty: false, env: ["HOME=/tmp", "USER=nobody", "PODSPAWN_PROJECT=default"], user: "65534:65534", workdir: "/tmp" });

/**
 * A node process (like spawn) whose fds 0-2 are anonymous pipes, as sshd gives them: its stdin
 * fed by a `cat` from our stdin, its stdout and stderr read by `cat`s onto ours. It reads nothing
 * itself.
 */
interface Holder {
  readonly pid: number;
  readonly startTime: string;
  readonly shell: ChildProcess;
  readonly stdout: Promise<Buffer>;
  readonly stderr: Promise<Buffer>;
  stop(): void;
}

async function holder(): Promise<Holder> {
  const pidFile = join(dir, `holder-${randomBytes(3).toString("hex")}`);
  // SIGUSR1 ends it quietly (a SIGKILL would make its shell print "Killed" onto our stderr).
  const js = `require("fs").writeFileSync(process.argv[1], String(process.pid)); process.on("SIGUSR1", () => process.exit(0)); setInterval(() => {}, 1e9)`;
  const mid = `${NODE} -e '${js}' ${pidFile}`;
  const shell = spawn("/bin/sh", ["-c", `( cat | ${mid} 2>&1 1>&3 | cat >&2 ) 3>&1 | cat`], { stdio: ["pipe", "pipe", "pipe"] });
  const collect = (s: NodeJS.ReadableStream): Promise<Buffer> => new Promise((resolve) => { const parts: Buffer[] = []; s.on("data", (c: Buffer) => parts.push(c)); s.on("end", () => resolve(Buffer.concat(parts))); });
  const stdout = collect(shell.stdout!);
  const stderr = collect(shell.stderr!);
  let pid = 0;
  for (let i = 0; i < 200 && !pid; i++) {
    try {
      pid = Number(readFileSync(pidFile, "utf8"));
    } catch {
      /* not written yet */
    }
    // Also when the file is there but still empty (created, not yet written): 0 is no pid.
    if (!pid) await new Promise((r) => setTimeout(r, 25));
  }
  // A holder that never started must not keep this file alive (its shell and cats would).
  if (!(pid > 0)) shell.kill("SIGKILL");
  assert.ok(pid > 0, "holder started");
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] as string;
  return { pid, startTime, shell, stdout, stderr, stop: () => {
      process.kill(pid, "SIGUSR1");
      // Our end of the feeding `cat`'s stdin: without it that cat (and its shell) would live on.
      shell.stdin?.end();
    } };
}

const ourFds = (): number => readdirSync("/proc/self/fd").length;

/** Host pids whose command line is exactly `cmdline` (NUL-separated), e.g. "sleep\u00001000". */
function pidsRunning(cmdline: string): number[] {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "latin1") === `${cmdline}\u0000`;
    } catch {
      return false;
    }
  }).map(Number);
}

/** Polls until `f` gives a truthy number (5 s), which it returns. */
async function eventually(f: () => number | undefined): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("timed out waiting");
}
const me = (h: Holder) => ({ uid: 0, exe: NODE, startTime: h.startTime });

/** startRuncExec that must start. */
async function started(o: RuncExecOptions): Promise<DirectProcess> {
  const r = await startRuncExec(o);
  assert.ok(r.ok, r.ok ? "" : r.reason);
  return r.process;
}

/** Run `cmd` on the direct path with a holder's pipes; its stdout, stderr and status. */
async function direct(cmd: string, input = ""): Promise<{ out: string; err: string; code: number }> {
  const h = await holder();
  const claim = claimStdio(h.pid, me(h));
  assert.ok(claim.ok, claim.ok ? "" : claim.reason);
  const proc = await started({ runc: RUNC, target: TARGET, containerId, plan: plan(cmd), pidFile: join(dir, `${randomBytes(3).toString("hex")}.pid`), fds: claim.fds });
  h.shell.stdin!.end(input);
  const code = await proc.exited;
  h.stop();
  return { out: (await h.stdout).toString(), err: (await h.stderr).toString(), code };
}

/** The same through the engine's exec. */
async function engine(cmd: string): Promise<{ out: string; err: string; code: number }> {
  const exec = await runtime.exec(containerId, plan(cmd));
  exec.stdin.end();
  const read = (s: NodeJS.ReadableStream): Promise<string> => new Promise((resolve) => { let t = ""; s.on("data", (c: Buffer) => (t += c.toString())); s.on("end", () => resolve(t)); });
  const [out, err, code] = await Promise.all([read(exec.stdout), read(exec.stderr), exec.exited]);
  return { out, err, code };
}

before(async () => {
  assert.equal(engineRuntimeProblem(await runtime.runtimeFacts()), null, "this machine's engine runs runc");
  const block = readCidr("198.19.252.0/28");
  if (!block.ok) throw new Error(block.problem);
  await runtime.ensureNetwork(networkSpec(instance, "dioa", block.value));
  containerId = await runtime.create(containerSpec(instance, "dioa", "default", { ...DEFAULT_NODE_CONFIG, image: "podspawn/default:bookworm", resources: { cpus: 1, memoryBytes: 512 * 1024 ** 2, pids: 200 } }));
  await runtime.start(containerId);
});

after(async () => {
  removeInstanceContainers(instance);
  for (const net of dockerLines(["network", "ls", "--filter", `label=podspawn.instance=${instance}`, "--format", "{{.Name}}"])) await runtime.removeNetwork(net);
  rmSync(dir, { recursive: true, force: true });
});

const HARDENING = /^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):/;
const PROBE = "grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp)' /proc/self/status; echo ---; cat /proc/self/cgroup; echo ---; cat /proc/self/attr/current 2>&1; echo; echo ---; env | grep -v '^_=' | sort; echo ---; ulimit -a; readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/net /proc/self/ns/ipc /proc/self/ns/uts";

describe("the direct path against the real engine", { timeout: 120_000 }, () => {
  it("confines the process exactly like the engine's exec: uids, groups, capabilities, no-new-privileges, seccomp, cgroups (pids, memory), AppArmor label, env, rlimits, namespaces", async () => {
    const [d, e] = [await direct(PROBE), await engine(PROBE)];
    assert.equal(d.code, 0, d.err);
    assert.equal(e.code, 0, e.err);
    assert.equal(d.out, e.out);
    const status = d.out.split("\n").filter((l) => HARDENING.test(l));
    assert.equal(status.length, 11, d.out);
    assert.ok(status.includes("CapEff:\t0000000000000000"), "no capabilities");
    assert.ok(status.includes("NoNewPrivs:\t1"));
    assert.ok(status.includes("Seccomp:\t2"), "the seccomp filter");
    assert.match(d.out, /^\d+:pids:\/docker\/[0-9a-f]{64}$/m, "in the container's pids cgroup");
    assert.match(d.out, /^\d+:memory:\/docker\/[0-9a-f]{64}$/m, "in the container's memory cgroup");
  });

  it("passes stdin through to EOF, keeps stdout and stderr apart, and gives the exit status", async () => {
    const r = await direct("cat; echo to-stderr >&2; exit 7", "hello over the pipe\n");
    assert.deepEqual(r, { out: "hello over the pipe\n", err: "to-stderr\n", code: 7 });
  });

  it("signals the session's group (the waiter keeps waiting), and kill() ends a process that ignores SIGHUP", async () => {
    const h = await holder();
    const claim = claimStdio(h.pid, me(h));
    assert.ok(claim.ok);
    const proc = await started({ runc: RUNC, target: TARGET, containerId, plan: plan("trap '' HUP; exec sleep 1000"), pidFile: join(dir, "sig.pid"), fds: claim.fds });
    const sleeper = await eventually(() => pidsRunning("sleep\u00001000")[0]);
    proc.signal("SIGHUP");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(pidsRunning("sleep\u00001000"), [sleeper], "SIGHUP is ignored by this process");
    proc.kill();
    assert.equal(await proc.exited, 128 + 9);
    assert.deepEqual(pidsRunning("sleep\u00001000"), [], "the process in the container is gone");
    h.stop();
    assert.equal((await h.stderr).toString(), "", "nothing of ours on the user's stderr");
  });

  it("forwards SIGTERM and reports 143, as the engine's exec does", async () => {
    const h = await holder();
    const claim = claimStdio(h.pid, me(h));
    assert.ok(claim.ok);
    const proc = await started({ runc: RUNC, target: TARGET, containerId, plan: plan("exec sleep 1001"), pidFile: join(dir, "term.pid"), fds: claim.fds });
    await eventually(() => pidsRunning("sleep\u00001001")[0]);
    proc.signal("SIGTERM");
    assert.equal(await proc.exited, 143);
    h.stop();
  });

  it("a forced end kills whatever still holds the user's pipes, also a child that left the group, and leaves a child that let them go", async () => {
    const h = await holder();
    const claim = claimStdio(h.pid, me(h));
    assert.ok(claim.ok);
    const cmd = "setsid sleep 1002 & nohup sleep 1003 </dev/null >/dev/null 2>&1 & exec sleep 1004";
    const proc = await started({ runc: RUNC, target: TARGET, containerId, plan: plan(cmd), pidFile: join(dir, "forced.pid"), fds: claim.fds });
    for (const arg of ["1002", "1003", "1004"]) await eventually(() => pidsRunning(`sleep\u0000${arg}`)[0]);
    proc.kill();
    assert.equal(await proc.exited, 137);
    assert.deepEqual(pidsRunning("sleep\u00001002"), [], "the setsid'd holder is gone");
    assert.deepEqual(pidsRunning("sleep\u00001004"), [], "the command is gone");
    assert.equal(pidsRunning("sleep\u00001003").length, 1, "the nohup'd child that let the pipes go is left");
    assert.equal(proc.containerAlive(), true, "a forced end is not a stopped container");
    h.stop();
    // The user's stdout reaches end-of-file: nothing in the container holds it any more.
    assert.equal((await h.stdout).toString(), "");
    for (const p of pidsRunning("sleep\u00001003")) process.kill(p, "SIGKILL");
  });

  it("when the daemon dies, the guard ends the session's group, and the record lets the next start end a holder that left it", async () => {
    const h = await holder();
    const pidFile = join(dir, "crash.pid");
    // A stand-in daemon: claims the holder's pipes, starts the session, and is SIGKILLed.
    const here = new URL(".", import.meta.url).pathname;
    const js = `
      const { claimStdio } = await import(${JSON.stringify(join(here, "../../agent/src/adapters/proc/claimed-stdio.js"))});
      const { startRuncExec } = await import(${JSON.stringify(join(here, "../../agent/src/adapters/runc/runc-exec.js"))});
      const claim = claimStdio(${h.pid}, { uid: 0, exe: process.execPath, startTime: ${JSON.stringify(h.startTime)} });
      if (!claim.ok) throw new Error(claim.reason);
      const r = await startRuncExec({ runc: ${JSON.stringify(RUNC)}, target: ${JSON.stringify(TARGET)}, containerId: ${JSON.stringify(containerId)}, plan: ${JSON.stringify(plan("setsid sleep 1005 & exec sleep 1006"))}, pidFile: ${JSON.stringify(pidFile)}, fds: claim.fds });
      if (!r.ok) throw new Error(r.reason);
      process.stdout.write("started\\n");
      setInterval(() => {}, 1e9);`;
    const daemon = spawn(NODE, ["--input-type=module", "-e", js], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      daemon.stdout!.once("data", () => resolve());
      daemon.once("exit", (code) => reject(new Error(`the stand-in daemon exited (${code})`)));
    });
    for (const arg of ["1005", "1006"]) await eventually(() => pidsRunning(`sleep\u0000${arg}`)[0]);
    daemon.kill("SIGKILL");
    await eventually(() => (pidsRunning("sleep\u00001006").length === 0 ? 1 : 0));
    assert.equal(pidsRunning("sleep\u00001005").length, 1, "setsid took this one out of the guard's reach");
    const record = sessionRecordOf(readFileSync(recordPathOf(pidFile), "utf8"));
    assert.ok(record, "the session's record is there for the next start");
    // The group dies at once, but a killed process holds its fds until its exit is through.
    await eventually(() => (sessionPids(record).length === 1 ? 1 : 0));
    assert.equal(killSessionProcesses(record), 1);
    assert.deepEqual(pidsRunning("sleep\u00001005"), []);
    h.stop();
    assert.equal((await h.stdout).toString(), "", "the user's stdout reaches end-of-file");
    assert.equal((await h.stderr).toString(), "");
  });

  it("an image without /bin/sh: runc cannot start the waiter, the start is not-ok with runc's reason, and nothing reaches the user's streams", async () => {
    const h = await holder();
    const claim = claimStdio(h.pid, me(h));
    assert.ok(claim.ok);
    const fdsBefore = ourFds();
    assert.equal((await runCommand("docker", ["exec", "-u", "0", containerId, "mv", "/bin/sh", "/bin/sh.away"])).code, 0);
    let r;
    try {
      r = await startRuncExec({ runc: RUNC, target: TARGET, containerId, plan: plan("echo never"), pidFile: join(dir, "nope.pid"), fds: claim.fds });
    } finally {
      assert.equal((await runCommand("docker", ["exec", "-u", "0", containerId, "/bin/dash", "-c", "mv /bin/sh.away /bin/sh"])).code, 0);
    }
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : "", /^runc exec failed \(exit \d+\): .*\/bin\/sh.*no such file/i);
    assert.equal(ourFds(), fdsBefore - 3, "the claimed fds and runc's sockets are all closed");
    h.stop();
    assert.equal((await h.stdout).toString(), "");
    assert.equal((await h.stderr).toString(), "");
  });

  it("quick commands, 12 at once, 3 times: each reports its own output and status, once", async () => {
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => direct(`echo quick-${i}; exit ${i}`)));
      results.forEach((r, i) => assert.deepEqual(r, { out: `quick-${i}\n`, err: "", code: i }));
    }
  });

  it("a command killed by a signal: its status, and no word of the waiter's shell on the user's stderr", async () => {
    const r = await direct("kill -KILL $$");
    assert.deepEqual(r, { out: "", err: "", code: 137 });
  });

  it("a container stopped under a session: the 137 comes with its init gone, whatever the engine says yet", async () => {
    const other = await runtime.create(containerSpec(instance, "dioa", "other", { ...DEFAULT_NODE_CONFIG, image: "podspawn/default:bookworm", resources: { cpus: 1, memoryBytes: 256 * 1024 ** 2, pids: 100 } }));
    await runtime.start(other);
    const h = await holder();
    const claim = claimStdio(h.pid, me(h));
    assert.ok(claim.ok);
    const proc = await started({ runc: RUNC, target: TARGET, containerId: other, plan: plan("exec sleep 1007"), pidFile: join(dir, "stopped.pid"), fds: claim.fds });
    await eventually(() => pidsRunning("sleep\u00001007")[0]);
    assert.equal(proc.containerAlive(), true);
    assert.equal((await runCommand("docker", ["kill", other])).code, 0);
    assert.equal(await proc.exited, 137);
    assert.equal(proc.containerAlive(), false);
    h.stop();
    assert.equal((await h.stderr).toString(), "");
  });

  it("refuses a pid of another uid, a changed start time, a socket fd and a regular-file fd, leaving no fd open", async () => {
    const h = await holder();
    // spawn()'s "pipe" stdio are socketpairs: what a process has that was not given pipes.
    const sock = spawn(NODE, ["-e", "setInterval(() => {}, 1e9)"], { stdio: ["pipe", "pipe", "pipe"] });
    // A regular file as stdio (a process redirected to a file).
    const fd = openSync(join(dir, "regular.io"), "w+");
    const withFile = spawn(NODE, ["-e", "setInterval(() => {}, 1e9)"], { stdio: [fd, fd, fd] });
    closeSync(fd);
    await new Promise((r) => setTimeout(r, 200));
    const startOf = (pid: number): string => {
      const st = readFileSync(`/proc/${pid}/stat`, "latin1");
      return st.slice(st.lastIndexOf(")") + 2).split(" ")[19] as string;
    };
    const fdsBefore = ourFds();
    const other = claimStdio(h.pid, { ...me(h), uid: 1234 });
    const reused = claimStdio(h.pid, { ...me(h), startTime: String(Number(h.startTime) - 1) });
    const socketClaim = claimStdio(sock.pid as number, { uid: 0, exe: NODE, startTime: startOf(sock.pid as number) });
    const fileClaim = claimStdio(withFile.pid as number, { uid: 0, exe: NODE, startTime: startOf(withFile.pid as number) });
    const fdsAfter = ourFds();
    // The same holder is accepted when it is who it says: the refusals above are the checks.
    const itself = claimStdio(h.pid, me(h));
    if (itself.ok) for (const f of itself.fds) closeSync(f);
    h.stop();
    sock.kill("SIGKILL");
    withFile.kill("SIGKILL");
    assert.match(!other.ok ? other.reason : "", /not all 1234/);
    assert.match(!reused.ok ? reused.reason : "", /start time differs/);
    assert.match(!socketClaim.ok ? socketClaim.reason : "", /fd 0 is "socket:\[\d+\]", not an anonymous pipe/);
    assert.match(!fileClaim.ok ? fileClaim.reason : "", /fd 0 is ".*regular\.io", not an anonymous pipe/);
    assert.ok(itself.ok, itself.ok ? "" : itself.reason);
    assert.equal(fdsAfter, fdsBefore, "every fd a refused claim opened is closed again");
  });

  it("closes its own copies of the fds once runc has them", async () => {
    await direct("true");
    const fdsBefore = ourFds();
    await direct("echo hi");
    assert.equal(ourFds(), fdsBefore);
  });
});

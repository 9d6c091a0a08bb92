import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { daemonRunning, runCommand, startDaemon, stopDaemon } from "../../scripts/local-node.js";
import { daemonLog, DEFAULT_TEST_CONFIG, eventually, INSTANCE, layout, startNode, type NodeHandle } from "./harness.js";
import { sshInBackground, within } from "./session-child.js";

/**
 * Faults during sessions, on the real engine: the daemon restarted, the engine restarted, the
 * OOM killer, a container left in `created`, the client gone during the first create.
 */
const USER = "e2e-fault";
const GONE = "e2e-gone";
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
let node: NodeHandle;

before(async () => {
  node = await startNode([USER, GONE], { projects: ["restart", "crash", "engine", "oom", "stuck", "gone"] });
});
after(async () => {
  await ensureDocker();
  await node?.stop();
});

const docker = (args: readonly string[]): string => execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
const containerOf = (user: string, project: string): string => `${INSTANCE}.${user}.${project}`;
const idOf = (name: string): string | null => {
  try {
    return docker(["inspect", "-f", "{{.Id}}", name]);
  } catch {
    return null;
  }
};
const mine = (user: string, project: string): string[] => node.containers().filter((l) => l.startsWith(`${containerOf(user, project)} `));
const project = (p: string): string[] => ["-o", `SetEnv=PODSPAWN_PROJECT=${p}`];
/** The daemon log written since `offset` (read from there only: the file grows across suites). */
async function logSince(offset: number): Promise<string> {
  const fh = await open(daemonLog, "r");
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    await fh.read(buf, 0, buf.length, offset);
    return buf.toString("utf8");
  } finally {
    await fh.close();
  }
}
const logSize = async (): Promise<number> => (await stat(daemonLog)).size;

async function dockerUp(): Promise<boolean> {
  return (await runCommand("docker", ["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 10_000 })).code === 0;
}

/** provision-host.sh starts dockerd the way this machine runs it, if none answers. */
async function ensureDocker(): Promise<void> {
  if (await dockerUp()) return;
  const r = await runCommand("bash", [join(repo, "scripts", "provision-host.sh")], { timeoutMs: 120_000 });
  if (r.code !== 0 || !(await dockerUp())) throw new Error(`could not restore dockerd:\n${r.stderr}`);
}

describe("the daemon restarted during a session", () => {
  it("(SIGTERM) ends the session with one clear line, and the next login reattaches the same container", async () => {
    const s = sshInBackground(node, USER, [...project("restart"), "touch ~/kept; echo ready; sleep 120"]);
    assert.ok(await s.waitForStdout("ready"), s.stderr());
    const before = idOf(containerOf(USER, "restart"));
    await node.restartDaemon();
    assert.equal(await within(s.exited, 20_000, -1), 255);
    assert.equal(s.stderr(), "podspawn: the session service on this node stopped (a restart or an upgrade); your environment is kept: log in again in a moment\n");
    const again = await node.ssh(USER, [...project("restart"), "ls ~/kept"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(idOf(containerOf(USER, "restart")), before, "the surviving container was reattached");
    assert.equal(mine(USER, "restart").length, 1, "nothing duplicated");
  });

  it("(SIGKILL) ends the session with one line, and the next login reattaches the same container", async () => {
    const s = sshInBackground(node, USER, [...project("crash"), "echo ready; sleep 120"]);
    assert.ok(await s.waitForStdout("ready"), s.stderr());
    const before = idOf(containerOf(USER, "crash"));
    const pid = await daemonRunning(INSTANCE);
    assert.ok(pid);
    process.kill(pid, "SIGKILL");
    assert.equal(await within(s.exited, 20_000, -1), 255);
    assert.equal(s.stderr(), "podspawn: the session service closed the connection\n");
    assert.ok(await eventually(async () => (await daemonRunning(INSTANCE)) === undefined, 5000));
    await startDaemon({ instance: INSTANCE, logFile: daemonLog });
    const again = await node.ssh(USER, [...project("crash"), "echo back"]);
    assert.equal(again.stdout, "back\n", again.stderr);
    assert.equal(idOf(containerOf(USER, "crash")), before);
    assert.equal(mine(USER, "crash").length, 1);
  });
});

describe("the engine restarted mid-session", () => {
  it("ends the session with one line saying so, and the next login works", async () => {
    const s = sshInBackground(node, USER, [...project("engine"), "echo ready; sleep 120"]);
    assert.ok(await s.waitForStdout("ready"), s.stderr());
    const pid = Number((await readFile("/var/run/docker.pid", "utf8")).trim());
    assert.ok(pid > 1, "dockerd's pid file");
    try {
      process.kill(pid, "SIGTERM");
      assert.ok(await eventually(() => !existsPid(pid), 60_000, 200), "dockerd stopped");
      const code = await within(s.exited, 30_000, -1);
      assert.ok(code === 137 || code === 255, `ssh exit status ${code}`);
      assert.equal(s.stderr().split("\n").filter(Boolean).length, 1, s.stderr());
      assert.match(s.stderr(), /^podspawn: (your environment's container stopped during the session \(the node's container engine may have restarted\); log in again to start it|the container engine on this node stopped answering during the session; log in again in a moment)\n$/);
    } finally {
      await ensureDocker();
    }
    const again = await node.ssh(USER, [...project("engine"), "echo back"]);
    assert.equal(again.stdout, "back\n", again.stderr);
    assert.equal(again.code, 0);
  });
});

function existsPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the OOM killer", () => {
  before(async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG.replace("memory: 512m", "memory: 64m"));
    await node.reload();
  });
  after(async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG);
    await node.reload();
  });

  it("tells the user the process was killed for memory, with the limit, and exits 137", async () => {
    const r = await node.ssh(USER, [...project("oom"), "echo before; exec dd if=/dev/zero of=/dev/null bs=256M count=1"]);
    assert.equal(r.code, 137, r.stderr);
    assert.equal(r.stdout, "before\n");
    assert.equal(r.stderr, "podspawn: killed: out of memory (limit 64m)\n");
    const after = await node.ssh(USER, [...project("oom"), "echo alive"]);
    assert.equal(after.stdout, "alive\n", "the environment itself survives");
  });

  it("says nothing extra for a process killed by a signal that is not the OOM killer", async () => {
    const r = await node.ssh(USER, [...project("oom"), "kill -9 $$"]);
    assert.equal(r.code, 137);
    assert.equal(r.stderr, "");
  });
});

describe("a container stuck in created", () => {
  it("is started and reattached at the next login (its ready marker proves its account)", async () => {
    const name = containerOf(USER, "stuck");
    // docker cp into a created container leaves the copies root-owned (engine 20.10): the home and
    // the note stay readable to the user that way, which is all the reattach needs to show.
    assert.equal((await node.ssh(USER, [...project("stuck"), "echo note > ~/note && chmod 755 ~ && chmod 644 ~/note"])).code, 0);
    const labels = JSON.parse(docker(["inspect", "-f", "{{json .Config.Labels}}", name])) as Record<string, string>;
    const marker = JSON.parse(docker(["exec", name, "cat", "/etc/podspawn/ready"])) as { v: number; account: Record<string, unknown> };
    await stopDaemon(INSTANCE);
    // What a daemon that died between writing the account and starting the container leaves.
    const work = await mkdtemp(join(tmpdir(), "pst-stuck-"));
    try {
      docker(["stop", "-t", "1", name]);
      docker(["rename", name, `${name}-old`]);
      const stuck = docker(["create", "--name", name, "--network", `${INSTANCE}.${USER}`, "--init", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]), "--entrypoint", "sleep", "podspawn/default:bookworm", "infinity"]);
      for (const path of ["/etc/passwd", "/etc/group", `/home/${USER}`]) {
        const r = await runCommand("bash", ["-c", `docker cp ${name}-old:${path} - | docker cp -a - ${name}:${dirname(path)}`]);
        assert.equal(r.code, 0, r.stderr);
      }
      await mkdir(join(work, "podspawn"));
      await writeFile(join(work, "podspawn", "ready"), JSON.stringify({ ...marker, container: stuck }) + "\n");
      await chmod(join(work, "podspawn", "ready"), 0o644);
      docker(["cp", "-a", join(work, "podspawn"), `${name}:/etc/`]);
      docker(["rm", "-f", `${name}-old`]);
      assert.equal(docker(["inspect", "-f", "{{.State.Status}}", name]), "created");
      await startDaemon({ instance: INSTANCE, logFile: daemonLog });
      const r = await node.ssh(USER, [...project("stuck"), "cat ~/note; id -un"]);
      assert.equal(r.stdout, `note\n${USER}\n`, r.stderr);
      assert.equal(idOf(name), stuck, "the same container, started, not replaced");
      assert.equal(docker(["inspect", "-f", "{{.State.Status}}", name]), "running");
      assert.equal(mine(USER, "stuck").length, 1);
    } finally {
      await rm(work, { recursive: true, force: true });
      if (!(await daemonRunning(INSTANCE))) await startDaemon({ instance: INSTANCE, logFile: daemonLog });
    }
  });
});

/**
 * The pid of GONE's spawn process (the forced command), once it runs: a spawn.cjs process of the
 * user's uid (sshd's ForceCommand runs it without --user, so the argv does not name the user).
 */
async function spawnPidOf(user: string): Promise<number | null> {
  const uid = (await runCommand("id", ["-u", user])).stdout.trim();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (!cmd.includes("spawn.cjs")) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    if (new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(status)) return Number(entry);
  }
  return null;
}

describe("the client gone during the first create", () => {
  it("leaks nothing: no session counted or audited, and the container it made is reaped after the grace period", async () => {
    const from = await logSize();
    const auditFrom = (await stat(`${layout.stateDir}/audit.log`)).size;
    const s = sshInBackground(node, GONE, [...project("gone"), "echo should-not-run"]);
    let pid: number | null = null;
    assert.ok(await eventually(async () => (pid = await spawnPidOf(GONE)) !== null, 15_000, 5), "spawn runs");
    // The daemon logs the user's new network just before it creates the container: go then.
    assert.ok(await eventually(async () => (await logSince(from)).includes(`network-created network=${INSTANCE}.${GONE}`), 15_000, 5), "the first create began");
    const spawnPid = pid as number | null;
    assert.ok(spawnPid !== null && spawnPid > 1);
    process.kill(spawnPid, "SIGKILL");
    s.child.kill("SIGKILL");
    await s.exited;
    assert.equal(s.stdout(), "");
    assert.ok(await eventually(async () => (await logSince(from)).includes(`container-created user=${GONE} project=gone`), 15_000), "the create went on");
    assert.ok(await eventually(async () => !(await node.status()).containers.some((c) => c.user === GONE && c.sessions > 0), 5000), "no session counted");
    assert.ok(await eventually(() => mine(GONE, "gone").length === 0, 20_000, 250), "the container was reaped");
    const log = await logSince(from);
    assert.match(log, new RegExp(`container-removed user=${GONE} project=gone container=\\S+ reason=grace-expired`));
    assert.doesNotMatch(log, new RegExp(`session-start user=${GONE}`), "no session ever started");
    const audit = (await readFile(`${layout.stateDir}/audit.log`)).subarray(auditFrom).toString("utf8");
    assert.doesNotMatch(audit, new RegExp(`"user":"${GONE}"`), "nothing audited for it");
  });
});

/**
 * The local 3-node fleet `npm run up -- --nodes 3` starts (scripts/local-fleet.ts), here as
 * instances podspawn-t1..t3 on 127.0.0.21-23:2250, each set up by the real node bootstrap. The
 * client is the real one: `podspawn client-setup` and ssh with the generated config, whose
 * ProxyCommand is `podspawn connect`. Where a login lands is read from Docker (the container's
 * instance label), never from the code under test.
 *
 * Rendezvous order for user flt-carol, computed by hand (first 64 bits of
 * `printf 'flt-carol\0<project>\0<node>' | sha256sum`, highest first):
 *   work: t2 f623b68d > t3 c8b803f2 > t1 04626ab5     data: t1 f3de69d0 > t2 ab022fea > t3 58144284
 *   web:  t3 51ff1933 > t1 0d8acb65 > t2 0306a76c     api:  t1 e01dfce4 > t2 d85e1c67 > t3 cab1ac1e
 *   docs: t1 83083d33 > t2 5f022c68 > t3 0e4ba7a3
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { publishAgent } from "../../infra/src/ops/file-release.js";
import { BUNDLE_DIR, bootNode, daemonPid, removeLocalFleet, startLocalFleet, stopNode, type LocalFleet, type LocalFleetSpec, type LocalNode } from "../../scripts/local-fleet.js";
import { dockerLines, runCommand, runPodspawn, type CommandResult } from "../../scripts/local-node.js";
import { preflight } from "./harness.js";

const USER = "flt-carol";
const SPEC: LocalFleetSpec = {
  fleet: "flt3",
  instancePrefix: "podspawn-t",
  namePrefix: "t",
  nodes: 3,
  firstAddress: 21,
  port: 2250,
  stateDir: "/var/lib/podspawn-test-fleet",
  agentPollSeconds: 3600,
  syncIntervalSeconds: 3600,
  upgradeMaxWaitSeconds: 60,
};
const FIRST: Record<string, string> = { work: "t2", data: "t1", web: "t3", api: "t1", docs: "t1" };
const SECOND: Record<string, string> = { work: "t3", api: "t2" };
const root = join(BUNDLE_DIR, "..", "..");

let fleet: LocalFleet;
let clientDir: string;
let sshConfig: string;

const node = (name: string): LocalNode => fleet.nodes.find((n) => n.name === name) as LocalNode;

function ssh(target: string, command: readonly string[], extra: readonly string[] = []): Promise<CommandResult> {
  return runCommand("ssh", ["-F", sshConfig, ...extra, target, ...command], { timeoutMs: 60_000 });
}

/** Straight to one node's sshd, as someone without the ProxyCommand would (fleet host keys pinned). */
function sshDirect(n: LocalNode, project: string, command: readonly string[]): Promise<CommandResult> {
  return runCommand("ssh", [
    "-F", "/dev/null", "-i", join(clientDir, USER), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "KexAlgorithms=curve25519-sha256",
    "-o", `HostKeyAlias=podspawn-${SPEC.fleet}`, "-o", `UserKnownHostsFile=${join(clientDir, "fleet", "known_hosts")}`, "-o", "StrictHostKeyChecking=yes",
    "-o", `SetEnv=PODSPAWN_PROJECT=${project}`, "-p", String(n.port), `${USER}@${n.listen}`, ...command,
  ], { timeoutMs: 60_000 });
}

/** Nodes holding a container of (USER, project), by Docker's labels. */
function landedOn(project: string): string[] {
  return fleet.nodes
    .filter((n) => dockerLines(["ps", "-q", "--filter", `label=podspawn.instance=${n.instance}`, "--filter", `label=podspawn.user=${USER}`, "--filter", `label=podspawn.project=${project}`]).length > 0)
    .map((n) => n.name);
}

function containerId(n: LocalNode, project: string): string {
  return dockerLines(["inspect", "--format", "{{.Id}}", `${n.instance}.${USER}.${project}`])[0] ?? "";
}

/**
 * The first line a node's sshd sends: its identification string. Right after a drain or undrain
 * sshd, reloaded with SIGHUP, re-executes itself and is briefly not listening: that one refusal
 * is waited out (bounded), nothing else.
 */
async function banner(n: LocalNode): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await bannerOnce(n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ECONNREFUSED" || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function bannerOnce(n: LocalNode): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: n.listen, port: n.port });
    let buf = "";
    s.setTimeout(5000, () => (s.destroy(), reject(new Error("no banner"))));
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      if (buf.includes("\n")) {
        s.destroy();
        resolve(buf.split("\n")[0]?.replace(/\r$/, "") ?? "");
      }
    });
    s.on("error", reject);
  });
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function drainState(n: LocalNode): Promise<{ drained: boolean; reason: string | null }> {
  const text = await readFile(join(layoutFor(n.instance).stateDir, "drain.json"), "utf8").catch(() => '{"drained":false,"reason":null}');
  return JSON.parse(text) as { drained: boolean; reason: string | null };
}

before(async () => {
  preflight();
  await removeLocalFleet(SPEC);
  clientDir = await mkdtemp(join(tmpdir(), "podspawn-fleet3-"));
  const keygen = await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${USER}@fleet3`, "-f", join(clientDir, USER)]);
  assert.equal(keygen.code, 0, keygen.stderr);
  const key = (await readFile(join(clientDir, `${USER}.pub`), "utf8")).trim();
  fleet = await startLocalFleet(SPEC, { version: 1, users: [{ name: USER, keys: [key] }] } as never);
  // Logins name projects: each node registers them with its default environment.
  for (const n of fleet.nodes) for (const p of Object.keys(FIRST)) assert.equal((await runPodspawn(n.instance, ["add-project", p])).code, 0, `add-project ${p} on ${n.name}`);
  const setup = await runCommand(process.execPath, [join(BUNDLE_DIR, "podspawn.cjs"), "client-setup", "--manifest", fleet.manifestFile, "--dir", join(clientDir, "fleet"), ...Object.keys(FIRST).flatMap((p) => ["--project", p])]);
  assert.equal(setup.code, 0, setup.stderr);
  sshConfig = join(clientDir, "ssh_config");
  await writeFile(sshConfig, [setup.stdout.trim(), "Host *", `  IdentityFile ${join(clientDir, USER)}`, "  IdentitiesOnly yes", "  BatchMode yes", "  KexAlgorithms curve25519-sha256", "  LogLevel ERROR", "  ConnectTimeout 10", ""].join("\n"));
});

after(async () => {
  if (fleet) await removeLocalFleet(SPEC);
  await runCommand("userdel", [USER]);
  await runCommand("groupdel", [USER]);
  if (clientDir) await rm(clientDir, { recursive: true, force: true });
});

describe("a local 3-node fleet set up by the node bootstrap", { timeout: 170_000 }, () => {
  it("reports every node ready in its status file", async () => {
    for (const n of fleet.nodes) assert.equal(JSON.parse(await readFile(n.statusFile, "utf8")).state, "ready", n.name);
  });

  it("routes each (user, project) to its rendezvous choice, across all three nodes", async () => {
    for (const project of ["work", "data", "web"]) {
      const r = await ssh(`${USER}@${project}.pod`, ["hostname"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${project}\n`);
      assert.equal(r.stderr, "");
      assert.deepEqual(landedOn(project), [FIRST[project]], project);
    }
  });

  it("fails over when the chosen node is stopped, and comes back to it once it runs again", async () => {
    const first = node(FIRST["work"] as string);
    const workOnFirst = containerId(first, "work");
    await stopNode(first);
    try {
      const r = await ssh(`${USER}@work.pod`, ["hostname"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "work\n");
      assert.match(r.stderr, new RegExp(`^podspawn connect: connected to node ${SECOND["work"]} \\(.*\\); skipped ${first.name} \\(.*\\): ECONNREFUSED$`, "m"));
      assert.deepEqual(landedOn("work").sort(), [first.name, SECOND["work"]].sort(), "a fresh container on the next node; the stopped node's stays");
    } finally {
      await bootNode(first);
    }
    const back = await ssh(`${USER}@work.pod`, ["hostname"]);
    assert.equal(back.stdout, "work\n", back.stderr);
    assert.equal(back.stderr, "");
    assert.equal(containerId(first, "work"), workOnFirst, "the restarted daemon adopted the container and reattached");
  });

  it("honours a drain: routed logins go elsewhere, the node refuses new environments and lets returning users in", async () => {
    const t1 = node("t1");
    const flags = ["--sshd-config", t1.sshdConfig, "--sshd-pid-file", t1.sshdPidFile];
    const drained = await runCommand(layoutFor(t1.instance).command, ["drain", "--reason", "e2e", ...flags]);
    assert.equal(drained.code, 0, drained.stderr);
    try {
      assert.match(await banner(t1), / podspawn-draining$/);
      const routed = await ssh(`${USER}@api.pod`, ["hostname"]);
      assert.equal(routed.code, 0, routed.stderr);
      assert.equal(routed.stdout, "api\n");
      assert.match(routed.stderr, new RegExp(`^podspawn connect: connected to node ${SECOND["api"]} \\(.*\\); skipped t1 \\(.*\\): draining$`, "m"));
      assert.deepEqual(landedOn("api"), [SECOND["api"]]);

      const fresh = await sshDirect(t1, "docs", ["hostname"]);
      assert.equal(fresh.code, 255);
      assert.equal(fresh.stdout, "");
      assert.match(fresh.stderr, /this node is draining: it starts no new environments/);
      assert.deepEqual(landedOn("docs"), [], "nothing was created");

      // data has its environment on t1 (the routing test made it; the grace period keeps it).
      const returning = await sshDirect(t1, "data", ["hostname"]);
      assert.equal(returning.code, 0, returning.stderr);
      assert.equal(returning.stdout, "data\n");
    } finally {
      const open = await runCommand(layoutFor(t1.instance).command, ["undrain", ...flags]);
      assert.equal(open.code, 0, open.stderr);
    }
    assert.doesNotMatch(await banner(t1), /podspawn-draining/);
    const again = await ssh(`${USER}@docs.pod`, ["hostname"]);
    assert.equal(again.stdout, "docs\n", again.stderr);
    assert.equal(again.stderr, "");
    assert.deepEqual(landedOn("docs"), ["t1"]);
  });

  it("upgrades a node's agent through the pointer: drained, it waits for the live session, then restarts and keeps the container", async () => {
    const n = node(FIRST["work"] as string);
    const before = { daemon: await daemonPid(n), container: containerId(n, "work") };
    assert.ok(before.daemon && before.container, "node and container up");

    const live = spawn("ssh", ["-F", sshConfig, `${USER}@work.pod`, "echo session-up; cat; echo session-done"], { stdio: ["pipe", "pipe", "pipe"] });
    let liveOut = "";
    live.stdout.on("data", (d: Buffer) => (liveOut += d.toString()));
    const liveExit = new Promise<number | null>((r) => live.on("close", r));
    await until("the live session", () => liveOut.includes("session-up"));

    const marker = `podspawn-upgrade-${randomBytes(4).toString("hex")}`;
    const sha = await publishAgent(fleet.release, BUNDLE_DIR, { defaultContext: join(root, "podfiles", "default"), marker });
    const upgrade = runCommand(n.nodeScript, ["update-agent"], { timeoutMs: 120_000 });

    await until("the upgrade's drain", async () => (await drainState(n)).drained);
    assert.match(String((await drainState(n)).reason), new RegExp(`^agent upgrade to ${sha.slice(0, 12)}$`));
    // drain.json is written before sshd reloads with the mark: wait for the banner itself.
    await until("the draining mark on sshd's banner", async () => / podspawn-draining$/.test(await banner(n)));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await daemonPid(n), before.daemon, "no restart while a session is live");

    live.stdin.end();
    assert.equal(await liveExit, 0);
    assert.match(liveOut, /session-done/);
    const done = await upgrade;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, new RegExp(`agent ${sha.slice(0, 12)} running`));

    assert.equal((await readFile(`/var/lib/${n.instance}-bootstrap/agent.current`, "utf8")).trim(), sha);
    assert.match(await readFile(join(layoutFor(n.instance).libDir, "podspawn.cjs"), "utf8"), new RegExp(`// ${marker}\\n$`));
    const after = await daemonPid(n);
    assert.ok(after && after !== before.daemon, `a new daemon (${before.daemon} -> ${after})`);
    assert.equal(containerId(n, "work"), before.container, "the container survived the restart");
    assert.equal((await drainState(n)).drained, false, "the upgrade lifted its own drain");
    assert.doesNotMatch(await banner(n), /podspawn-draining/);

    const r = await ssh(`${USER}@work.pod`, ["hostname"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(containerId(n, "work"), before.container, "the new daemon reattached to it");
    assert.equal(JSON.parse(await readFile(n.statusFile, "utf8")).agent, sha);
  });
});

/**
 * A node under many users (real ssh, sshd, daemon and engine): 100 distinct users' first logins
 * at the same moment, 20 sessions of one user, the quota and capacity refusals as the user reads
 * them, and a daemon whose engine stops answering mid-life. Users are added in one `podspawn sync`
 * (one Node start and one daemon reload for all of them) and removed the same way.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerLines, runCommand, type CommandResult } from "../../scripts/local-node.js";
import { daemonLog, eventually, INSTANCE, startNode, type NodeHandle } from "./harness.js";

const CROWD = Array.from({ length: 100 }, (_, i) => `cap-u${String(i + 1).padStart(3, "0")}`);
const ONE = "cap-one";
const QUOTA = "cap-quota";
const FIRST = "cap-first";
const SECOND = "cap-second";
const USERS = [...CROWD, ONE, QUOTA, FIRST, SECOND];

/** The small image is enough for counting; no timer of the shared-node defaults gets in the way. */
const BASE_CONFIG = `image: podspawn/busybox:test
session:
  mode: grace-period
  grace_period: 3s
  idle_timeout: 0
  max_lifetime: 0
resources:
  cpus: 1
  memory: 256m
  pids: 256
network_linger: 2s
# Exact container counts: the normal (create) path; the pool has its own e2e (pool.test.ts).
pool:
  size: 0
  project_size: 0
`;

let node: NodeHandle;
let work: string;

/** Up to `limit` at a time: 100 ssh-keygen runs at once would only fight over 2 CPUs. */
async function pool<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await run(items[i] as T);
    }
  }));
  return out;
}

function must(what: string, r: CommandResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function sync(users: readonly string[]): Promise<void> {
  const lines = ["version: 1", "users:"];
  for (const u of users) lines.push(`  - name: ${u}`, "    keys:", `      - ${(await readFile(join(work, `${u}.pub`), "utf8")).trim()}`);
  const file = join(work, "users.yaml");
  await writeFile(file, (users.length ? lines : ["version: 1", "users: []"]).join("\n") + "\n");
  // The clean-up removes every user at once, which sync refuses without saying it is meant.
  const allowMass = users.length === 0 ? ["--allow-mass-removal"] : [];
  must("podspawn sync", await node.podspawn(["sync", "--file", file, ...allowMass], { timeoutMs: 600_000 }));
}

function ssh(user: string, args: readonly string[], project?: string): Promise<CommandResult> {
  const extra = project ? ["-o", `SetEnv=PODSPAWN_PROJECT=${project}`] : [];
  return node.ssh(user, [...extra, ...args], { key: join(work, user), timeoutMs: 300_000 });
}

/** An ssh session whose stdin stays open until `release()`: it holds its session (and container) till then. */
function heldSsh(user: string, command: string): { release(): void; result: Promise<CommandResult> } {
  const child = spawn("ssh", [...node.sshArgs(user, join(work, user)), `${user}@127.0.0.1`, command], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.on("error", () => undefined);
  const result = new Promise<CommandResult>((resolve) => child.on("close", (code) => resolve({ code: code ?? 128, stdout, stderr })));
  return { release: () => child.stdin.end(), result };
}

/** Live sessions of these users, as the daemon counts them (the SESSIONS column of `podspawn status`). */
async function liveSessions(users: readonly string[]): Promise<number> {
  const set = new Set(users);
  return (await node.status()).containers.filter((c) => set.has(c.user)).reduce((n, c) => n + c.sessions, 0);
}

async function config(extra = ""): Promise<void> {
  await node.writeConfig(BASE_CONFIG + extra);
  await node.reload();
}

async function metric(series: string): Promise<number | undefined> {
  const text = must("podspawn metrics", await node.podspawn(["metrics"]));
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const containerName = (user: string, project = "default"): string => `${INSTANCE}.${user}.${project}`;

before(async () => {
  node = await startNode([], { projects: ["alpha", "beta", "gamma"] });
  work = await mkdtemp(join(tmpdir(), "podspawn-e2e-capacity-"));
  const t0 = Date.now();
  await pool(USERS, 8, async (u) => must("ssh-keygen", await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${u}@e2e`, "-f", join(work, u)])));
  const t1 = Date.now();
  await config();
  await sync(USERS);
  process.stderr.write(`capacity e2e: ${USERS.length} keys in ${t1 - t0} ms, sync of ${USERS.length} users in ${Date.now() - t1} ms\n`);
});

after(async () => {
  // Containers go by label in one sweep (node.stop); then the accounts, with no daemon to ask.
  await node?.stop();
  if (work) {
    await sync([]);
    await rm(work, { recursive: true, force: true });
  }
});

describe("a node under many users", () => {
  it("lets 100 distinct users log in at the same moment, each landing in their own container on their own network", { timeout: 600_000 }, async (t) => {
    const t0 = Date.now();
    const sessions = CROWD.map((u) => heldSsh(u, "id -un; cat >/dev/null; echo bye"));
    try {
      const allIn = await eventually(async () => (await liveSessions(CROWD)) === CROWD.length, 300_000, 250);
      t.diagnostic(`100 simultaneous first logins: all live after ${Date.now() - t0} ms`);
      assert.ok(allIn, `100 live sessions at once (got ${await liveSessions(CROWD)})`);
      // While all are in: each container is attached to exactly its user's network, and no two
      // networks share a block (the default pool, /28 each).
      const attached = dockerLines(["inspect", "--format", "{{.Name}} {{.State.Running}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", ...CROWD.map((u) => containerName(u))]);
      assert.equal(attached.length, CROWD.length);
      const blocks = new Set<string>();
      for (const line of attached) {
        const [name = "", running, ...nets] = line.trim().split(" ");
        const user = name.slice(`/${INSTANCE}.`.length).replace(/\.default$/, "");
        assert.equal(running, "true", line);
        assert.equal(nets.length, 1, line);
        const [net = "", ip = ""] = (nets[0] ?? "").split("=");
        assert.equal(net, `${INSTANCE}.${user}`, line);
        assert.match(ip, /^198\.1[89]\.\d+\.\d+$/, `${line}: an address from the default pool 198.18.0.0/15`);
        const octets = ip.split(".").map(Number);
        blocks.add(`${octets.slice(0, 3).join(".")}.${(octets[3] ?? 0) - ((octets[3] ?? 0) % 16)}`);
      }
      assert.equal(blocks.size, CROWD.length, "100 distinct /28 blocks");
      assert.equal(node.networks().filter((n) => CROWD.some((u) => n === `${INSTANCE}.${u}`)).length, CROWD.length);
    } finally {
      for (const s of sessions) s.release();
    }
    const results = await Promise.all(sessions.map((s) => s.result));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `${CROWD[i]}: exit ${r.code}: ${r.stderr}`);
      assert.equal(r.stdout, `${CROWD[i]}\nbye\n`);
      assert.equal(r.stderr, "");
    });
  });

  it("runs 20 sessions of one user at once, all in one container", { timeout: 300_000 }, async () => {
    const sessions = Array.from({ length: 20 }, (_, i) => heldSsh(ONE, `echo start ${i}; cat >/dev/null; echo done ${i}`));
    let all20 = false;
    try {
      all20 = await eventually(async () => (await liveSessions([ONE])) === 20, 120_000, 200);
      assert.deepEqual(node.containers().filter((c) => c.startsWith(`${INSTANCE}.${ONE}.`)), [`${containerName(ONE)} running`]);
    } finally {
      for (const s of sessions) s.release();
    }
    assert.ok(all20, "the daemon counted 20 live sessions of the user at one moment");
    const results = await Promise.all(sessions.map((s) => s.result));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `start ${i}\ndone ${i}\n`);
      assert.equal(r.stderr, "");
    });
  });
});

describe("quota refusals", () => {
  it("refuses a third project past environments_per_user with one line naming the limit, creating nothing", { timeout: 120_000 }, async () => {
    // Far longer than the three logins can take (the engine may still be removing the crowd's
    // networks, one after another), so alpha and beta are surely there; `stop` then removes them
    // before the capacity tests.
    await node.writeConfig(BASE_CONFIG.replace("grace_period: 3s", "grace_period: 120s") + "limits:\n  environments_per_user: 2\n");
    await node.reload();
    try {
      for (const p of ["alpha", "beta"]) assert.equal((await ssh(QUOTA, ["true"], p)).code, 0);
      const before = await metric('podspawn_quota_refusals_total{limit="environments-per-user"}');
      const r = await ssh(QUOTA, ["echo should-not-run"], "gamma");
      assert.equal(r.code, 255);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, "podspawn: you already have 2 environments on this node (limit 2): alpha, beta; end every session of one and it goes after 120 s, or ask the admin\n");
      assert.ok(!node.containers().some((c) => c.startsWith(containerName(QUOTA, "gamma"))), "no container for the refused project");
      assert.equal(await metric('podspawn_quota_refusals_total{limit="environments-per-user"}'), (before ?? 0) + 1);
      assert.match(await readFile(daemonLog, "utf8"), new RegExp(`refused user=${QUOTA} project=gamma limit=environments-per-user `));
    } finally {
      must("podspawn stop", await node.podspawn(["stop", QUOTA]));
    }
  });

  it("refuses a second session past sessions_per_user with one line, while the first keeps running", { timeout: 120_000 }, async () => {
    await node.writeConfig(BASE_CONFIG.replace("grace_period: 3s", "grace_period: 15s") + "limits:\n  sessions_per_user: 1\n");
    await node.reload();
    const first = ssh(QUOTA, ["sleep 3; echo first"], "alpha");
    assert.ok(await eventually(async () => (await liveSessions([QUOTA])) === 1, 60_000, 100));
    const r = await ssh(QUOTA, ["echo second"], "alpha");
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "podspawn: you already have 1 session on this node (limit 1); end one and try again\n");
    const f = await first;
    assert.equal(f.stdout, "first\n", f.stderr);
    assert.equal(f.code, 0);
  });
});

describe("capacity refusals", () => {
  before(async () => {
    await config();
    // Earlier tests' containers go after their grace periods (3 s, 15 s for the quota tests).
    const empty = await eventually(async () => (await node.status()).containers.length === 0, 180_000, 500);
    assert.ok(empty, "the node is empty before the capacity tests");
  });

  it("refuses a new environment on a node at max_environments with the node-full line, creating nothing", { timeout: 120_000 }, async () => {
    await config("limits:\n  max_environments: 1\n");
    assert.equal((await ssh(FIRST, ["true"])).code, 0);
    const before = await metric('podspawn_capacity_refusals_total{reason="max-environments"}');
    const r = await ssh(SECOND, ["echo should-not-run"]);
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "podspawn: this node is full (1 environment); try again later or ask the admin\n");
    assert.ok(!node.containers().some((c) => c.startsWith(containerName(SECOND))), "no container for the refused user");
    assert.ok(!node.networks().includes(`${INSTANCE}.${SECOND}`), "no network either");
    assert.equal(await metric('podspawn_capacity_refusals_total{reason="max-environments"}'), (before ?? 0) + 1);
    assert.equal((await ssh(FIRST, ["echo still-in"])).stdout, "still-in\n", "users already on the node keep working");
  });

  it("refuses a new user when the address pool has no block left, with the same node-full line", { timeout: 120_000 }, async () => {
    // One /28 in the pool; FIRST's network (from the default pool) is outside it and frees nothing.
    await node.writeConfig(BASE_CONFIG.replace("grace_period: 3s", "grace_period: 60s") + "network:\n  pool: 198.19.253.0/28\n  subnet_size: 28\n");
    await node.reload();
    assert.equal((await ssh(SECOND, ["true"])).code, 0, "the pool's one block");
    const r = await ssh(CROWD[0] as string, ["echo should-not-run"]);
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    // FIRST's environment may have gone meanwhile (its 3 s grace period): the count is 1 or 2.
    assert.match(r.stderr, /^podspawn: this node is full \([12] environments?\); try again later or ask the admin\n$/);
    assert.ok(!node.containers().some((c) => c.startsWith(containerName(CROWD[0] as string))));
    assert.equal(await metric('podspawn_capacity_refusals_total{reason="address-pool"}'), 1);
  });
});

/**
 * Between the daemon and the real engine: passes bytes through until `hang` is set, then drops
 * whatever the daemon sends, so no request is ever answered (new connections and pooled ones).
 */
async function engineProxy(path: string, upstream = "/var/run/docker.sock"): Promise<{ hang: boolean; close(): Promise<void> }> {
  const state = { hang: false };
  const open = new Set<Socket>();
  // Half-open both ways: a hijacked exec stream half-closes when its stdin ends, output still to come.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const up = connect({ path: upstream, allowHalfOpen: true });
    open.add(client).add(up);
    client.on("data", (d: Buffer) => void (state.hang || up.write(d)));
    up.on("data", (d: Buffer) => void client.write(d));
    client.on("end", () => up.end());
    up.on("end", () => client.end());
    const end = (): void => {
      client.destroy();
      up.destroy();
    };
    for (const s of [client, up]) {
      s.on("close", () => (open.delete(s), end()));
      s.on("error", end);
    }
  });
  await rm(path, { force: true });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return Object.assign(state, {
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

describe("a daemon whose engine stops answering", () => {
  it("ends the login with one line naming the wait, logs which call hung, and serves again once the engine answers", { timeout: 180_000 }, async () => {
    const proxyPath = `/run/${INSTANCE}-engine-proxy.sock`;
    const proxy = await engineProxy(proxyPath);
    try {
      // A long grace period: the hung login must find the environment in the table (a warm login, no ping).
      const hungConfig = BASE_CONFIG.replace("grace_period: 3s", "grace_period: 60s");
      await node.writeConfig(hungConfig);
      await node.restartDaemon({ PODSPAWN_DOCKER_SOCKET: proxyPath });
      const ok = await ssh(FIRST, ["echo before"]);
      assert.equal(ok.stdout, "before\n", `through the proxy while the engine answers: ${ok.code} ${ok.stderr}`);
      // Short deadlines only now: the cold login above may take longer than 2 s on a busy engine.
      await node.writeConfig(hungConfig + "engine:\n  inspect_timeout: 2s\n");
      await node.reload();
      const logStart = (await stat(daemonLog)).size;

      proxy.hang = true;
      const t0 = Date.now();
      const r = await ssh(FIRST, ["echo should-not-run"]);
      const waited = Date.now() - t0;
      assert.equal(r.code, 255);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, "podspawn: the container engine on this node did not answer within 2 s\n");
      assert.ok(waited < 20_000, `the session ended after the deadline, not with the engine (${waited} ms)`);
      const log = (await readFile(daemonLog)).subarray(logStart).toString("utf8");
      assert.match(log, /engine-timeout call="container inspect" ms=2000/);
      assert.match(log, /error code=engine-timeout message="session \d+ for cap-first failed" detail="the container engine on this node did not answer within 2 s: container inspect \(GET \/containers\/[^ ]+\/json\) got no answer within 2000 ms"/);
      assert.ok(((await metric('podspawn_engine_timeouts_total{call="container inspect"}')) ?? 0) >= 1);

      proxy.hang = false;
      assert.equal((await ssh(FIRST, ["echo after"])).stdout, "after\n", "the daemon did not hang with its engine");
    } finally {
      await node.writeConfig(BASE_CONFIG);
      await node.restartDaemon();
      await proxy.close();
      await rm(proxyPath, { force: true });
    }
  });
});

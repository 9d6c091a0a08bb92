/**
 * Fleet routing with the real ssh client: two nodes (fleet-harness.ts), a manifest with both,
 * `podspawn client-setup` into a temp dir, and `ssh -F <config that Includes the generated snippet>`.
 * Which node a login lands on is read from Docker (the container's instance label), not from us.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCommand, type CommandResult } from "../../scripts/local-node.js";
import { CLI, FLEET_NODES, must, startFleetNode, stopFleetNode, type FleetNode } from "./fleet-harness.js";

const USER = "flt-alice";
const FLEET = "flt";
let clientDir: string;
let nodes: FleetNode[] = [];
let sshConfig: string;
/**
 * The rendezvous order for each project, computed outside the code under test (first 64 bits of
 * `printf 'flt-alice\0<project>\0<node>' | sha256sum`, higher first):
 *   work: fa e502dacd2fbbc845 > fb 3729dfe3c7202d90     data: fb 8ca1a94020eef1d6 > fa 2d0387e8dcd969a5
 */
const ORDER: Record<string, readonly [string, string]> = { work: ["fa", "fb"], data: ["fb", "fa"] };
/** A second project whose first choice is not work's. */
const otherProject = "data";

const byName = (name: string): FleetNode => nodes.find((n) => n.spec.name === name)!;
const choiceFor = (project: string): readonly string[] => {
  const order = ORDER[project];
  if (!order) throw new Error(`no precomputed order for project ${project}`);
  return order;
};

function manifest(hostKeyOf: (n: FleetNode) => string): string {
  return JSON.stringify({
    version: 1,
    fleet: FLEET,
    domain: "pod",
    nodes: nodes.map((n) => ({ name: n.spec.name, address: n.spec.listen, port: n.spec.port, hostKeys: [hostKeyOf(n)] })),
  });
}

/**
 * client-setup into `<clientDir>/<name>`, then an ssh -F file that Includes it and adds the test's
 * identity. The manifest is written to a file, or served at `url` when given.
 */
async function setUpClient(name: string, manifestText: string, projects: readonly string[], url?: string): Promise<string> {
  let manifestFile = url;
  if (manifestFile === undefined) {
    manifestFile = join(clientDir, `${name}-manifest.json`);
    await writeFile(manifestFile, manifestText);
  }
  const dir = join(clientDir, name);
  const out = must("client-setup", await runCommand(process.execPath, [CLI, "client-setup", "--manifest", manifestFile, "--dir", dir, ...projects.flatMap((p) => ["--project", p])]));
  assert.equal(out, `Include ${dir}/config\n`);
  const file = join(clientDir, `${name}-ssh_config`);
  await writeFile(
    file,
    [
      out.trim(),
      "Host *",
      `  IdentityFile ${join(clientDir, USER)}`,
      "  IdentitiesOnly yes",
      "  BatchMode yes",
      "  KexAlgorithms curve25519-sha256",
      "  LogLevel ERROR",
      "  ConnectTimeout 10",
      "",
    ].join("\n"),
  );
  return file;
}

function ssh(target: string, command: readonly string[], config = sshConfig, env: NodeJS.ProcessEnv = process.env): Promise<CommandResult> {
  return runCommand("ssh", ["-F", config, target, ...command], { timeoutMs: 60_000, env });
}

/** Instances holding a running container for (USER, project), read from Docker. */
function landedOn(project: string): string[] {
  return nodes.filter((n) => n.containers(USER, project).length > 0).map((n) => n.spec.name);
}

before(async () => {
  for (const spec of FLEET_NODES) await stopFleetNode(spec, [USER]);
  clientDir = await mkdtemp(join(tmpdir(), "podspawn-fleet-client-"));
  must("ssh-keygen", await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${USER}@fleet-e2e`, "-f", join(clientDir, USER)]));
  const users = new Map([[USER, join(clientDir, `${USER}.pub`)]]);
  for (const spec of FLEET_NODES) nodes.push(await startFleetNode(spec, users, ["work", otherProject]));
  sshConfig = await setUpClient("good", manifest((n) => n.hostPublicKey), ["work", otherProject]);
});

after(async () => {
  for (const spec of FLEET_NODES) await stopFleetNode(spec, [USER]);
  nodes = [];
  if (clientDir) await rm(clientDir, { recursive: true, force: true });
});

describe("ssh alice@<project>.pod through podspawn connect", () => {
  it("registers one user on both instances: the second add-user reuses the shared host account", () => {
    assert.match(nodes[0]!.addUserOutput.get(USER)!, new RegExp(`created pod user ${USER}`));
    assert.match(nodes[1]!.addUserOutput.get(USER)!, new RegExp(`${USER}: added 1 key\\(s\\), now 1`));
  });

  it("lands in the project's container (hostname is the project) on the rendezvous choice", async () => {
    const r = await ssh(`${USER}@work.pod`, ["hostname; id -un"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `work\n${USER}\n`);
    assert.equal(r.stderr, "");
    assert.deepEqual(landedOn("work"), [choiceFor("work")[0]]);
  });

  it("lands on the same node every time for the same (user, project)", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await ssh(`${USER}@work.pod`, ["hostname"]);
      assert.equal(r.stdout, "work\n", r.stderr);
      assert.deepEqual(landedOn("work"), [choiceFor("work")[0]]);
      assert.equal(byName(choiceFor("work")[0]!).containers(USER, "work").length, 1, "one container, reattached");
    }
  });

  it("routes another project of the same user to the other node when the hash says so", async () => {
    const r = await ssh(`${USER}@${otherProject}.pod`, ["hostname"]);
    assert.equal(r.stdout, `${otherProject}\n`, r.stderr);
    assert.deepEqual(landedOn(otherProject), [choiceFor(otherProject)[0]]);
    assert.notEqual(choiceFor(otherProject)[0], choiceFor("work")[0]);
  });

  it("accepts the fleet-qualified form <project>.<fleet>.pod, routed like the short one", async () => {
    const r = await ssh(`${USER}@work.${FLEET}.pod`, ["hostname"]);
    assert.equal(r.stdout, "work\n", r.stderr);
    assert.deepEqual(landedOn("work"), [choiceFor("work")[0]]);
  });

  for (const [what, host, line] of [
    ["a name with a bad character", "a_b.pod", /^podspawn connect: HOST: "a_b\.pod" contains characters a host name cannot have/m],
    ["another fleet's name", "work.other.pod", /^podspawn connect: HOST: "work\.other\.pod" names fleet "other", but the manifest is for fleet "flt"/m],
    ["a project with no Host block (its SetEnv would be missing)", "nothere.pod", /^podspawn connect: nothere\.pod: project "nothere" is not set up in this client's ssh config/m],
  ] as const) {
    it(`refuses ${what} with one podspawn line, before reaching any node`, async () => {
      const r = await ssh(`${USER}@${host}`, ["true"]);
      assert.equal(r.code, 255);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, line);
      assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("podspawn")).length, 1, r.stderr);
    });
  }

  it("verifies host keys: a manifest pinning other keys makes ssh refuse the node", async () => {
    const wrong = must("ssh-keygen", await runCommand("sh", ["-c", `ssh-keygen -q -t ed25519 -N '' -f ${clientDir}/wrong-hk && cut -d' ' -f1,2 ${clientDir}/wrong-hk.pub`])).trim();
    const config = await setUpClient("wrong", manifest(() => wrong), ["work"]);
    const before = landedOn("work");
    const r = await ssh(`${USER}@work.pod`, ["hostname"], config);
    assert.equal(r.code, 255);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /Host key verification failed/);
    assert.deepEqual(landedOn("work"), before, "no session was opened");
  });

  it("fails over: with the chosen node's sshd stopped, the next login lands on the other node", async () => {
    const [first, second] = choiceFor("work") as [string, string];
    await byName(first).stopSshd();
    try {
      const r = await ssh(`${USER}@work.pod`, ["hostname"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "work\n");
      assert.match(r.stderr, new RegExp(`^podspawn connect: connected to node ${second} \\(.*\\); skipped ${first} \\(.*\\): ECONNREFUSED$`, "m"));
      assert.equal(byName(second).containers(USER, "work").length, 1);
    } finally {
      await byName(first).startSshd();
    }
    // Back to the first choice once it answers again: the order is stable, not sticky.
    const again = await ssh(`${USER}@work.pod`, ["hostname"]);
    assert.equal(again.stdout, "work\n", again.stderr);
    assert.equal(again.stderr, "");
  });

  it("reads the manifest from a URL and, when that fails, from its cache, saying so once", async () => {
    const text = manifest((n) => n.hostPublicKey);
    const server = createServer((req, res) => {
      res.writeHead(req.url === "/fleet.json" ? 200 : 404, { "content-type": "application/json" });
      res.end(req.url === "/fleet.json" ? text : "{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fleet.json`;
    const env = { ...process.env, XDG_CACHE_HOME: join(clientDir, "cache") };
    try {
      const config = await setUpClient("url", text, ["work"], url);
      const r = await ssh(`${USER}@work.pod`, ["hostname"], config, env);
      assert.equal(r.stdout, "work\n", r.stderr);
      assert.equal(r.stderr, "");
      assert.equal((await readdir(join(clientDir, "cache", "podspawn"))).length, 1, "the good copy is cached");
      await new Promise((r) => server.close(r));
      const offline = await ssh(`${USER}@work.pod`, ["hostname"], config, env);
      assert.equal(offline.stdout, "work\n", offline.stderr);
      assert.match(offline.stderr, /^podspawn connect: warning: cannot load the fleet manifest from http:\/\/127\.0\.0\.1:\d+\/fleet\.json \(.*\); using the cached copy from \S+\n$/);
    } finally {
      server.close();
    }
  });

  it("fails with one line listing both nodes when none answers", async () => {
    for (const n of nodes) await n.stopSshd();
    try {
      const r = await ssh(`${USER}@work.pod`, ["hostname"]);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /^podspawn connect: no node of fleet flt answered for flt-alice@work\.pod \(tried f[ab] \(127\.0\.0\.[23]:2240\): ECONNREFUSED; f[ab] \(127\.0\.0\.[23]:2240\): ECONNREFUSED\)$/m);
    } finally {
      for (const n of nodes) await n.startSshd();
    }
  });
});

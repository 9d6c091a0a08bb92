/**
 * A Podfile environment at session time, over real ssh: the postgres example project with its
 * service, dotfiles cloned from a git server of this test's own (a network namespace, reached
 * like any outside address), on_create once and on_start every session, their output on stderr
 * while scp stays byte-exact, the service hardened as claimed, and out of another user's reach.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerLines, runCommand } from "../../scripts/local-node.js";
import { eventually, INSTANCE, startNode, type NodeHandle } from "./harness.js";
import { startGitDaemon, type GitDaemon } from "./git-daemon.js";
import { assertScpRoundTrip } from "./scp-round-trip.js";
import { REPO_ROOT } from "../unit/helpers/podfile.js";

const ALICE = "e2e-svc";
const BOB = "e2e-svc-other";
const PROJECT = "pg";
const SERVICE = `${INSTANCE}.${ALICE}.${PROJECT}.postgres`;
const SERVICES_NET = `${INSTANCE}.${ALICE}.${PROJECT}.services`;

/** TEST-NET-3 (RFC 5737): outside the pod pool and the private ranges the egress firewall may block. */
const GIT_NETNS = "pse2e-svc-git";
const HOST_SIDE = { dev: "pse2esgit0", ip: "203.0.113.77" };
const NS_SIDE = { dev: "pse2esgit1", ip: "203.0.113.78" };
const marker = randomBytes(6).toString("hex");

let node: NodeHandle;
let work: string;
let gitServer: GitDaemon | undefined;

async function must(cmd: string, args: readonly string[]): Promise<string> {
  const r = await runCommand(cmd, args, { timeoutMs: 600_000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}


/** A read-only `git daemon` in a namespace of its own, serving one dotfiles repository. */
async function startGitServer(): Promise<void> {
  const repo = join(work, "git", "dots");
  await must("git", ["init", "-q", "-b", "main", repo]);
  await writeFile(join(repo, "marker"), `${marker}\n`);
  await writeFile(join(repo, "install.sh"), 'echo "dotfiles install ran in $(pwd)"\necho installed > "$HOME/.dots-installed"\n');
  await must("git", ["-C", repo, "add", "."]);
  await must("git", ["-C", repo, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "-q", "-m", "dots"]);
  await chmod(work, 0o755);
  gitServer = await startGitDaemon({ netns: GIT_NETNS, host: HOST_SIDE, inside: NS_SIDE, baseDir: join(work, "git"), probeRepo: "dots" });
}

function inspect(container: string): { HostConfig: Record<string, unknown>; NetworkSettings: { Networks: Record<string, { IPAddress: string }>; Ports: Record<string, unknown> | null } } {
  const [first] = JSON.parse(execFileSync("docker", ["inspect", container], { encoding: "utf8" })) as ReturnType<typeof inspect>[];
  assert.ok(first, `docker inspect ${container}`);
  return first;
}

const login = (user: string, command: string, project: string | null = PROJECT) => node.ssh(user, [...(project ? ["-o", `SetEnv=PODSPAWN_PROJECT=${project}`] : []), command], { timeoutMs: 600_000 });

before(async () => {
  work = await mkdtemp(join(tmpdir(), "podspawn-e2e-services-"));
  // The service image as this checkout has it (CI builds it too; cached by content).
  await must(process.execPath, [join(REPO_ROOT, "dist", "scripts", "build-image.js"), "--only", "postgres"]);
  await startGitServer();
  node = await startNode([ALICE, BOB]);
  const podfile = join(work, "pg.yaml");
  await writeFile(
    podfile,
    [
      `extends: ${join(REPO_ROOT, "podfiles", "postgres.yaml")}`,
      `dotfiles: {repo: "git://${NS_SIDE.ip}/dots", install: sh install.sh}`,
      "on_create: echo once >> $HOME/.on-create-runs",
      "on_start: echo again >> $HOME/.on-start-runs",
      "",
    ].join("\n"),
  );
  const r = await node.podspawn(["add-project", PROJECT, "--podfile", podfile]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await node?.stop();
  for (const v of dockerLines(["volume", "ls", "-q", "--filter", `label=podspawn.instance=${INSTANCE}`])) await runCommand("docker", ["volume", "rm", "-f", v]);
  await gitServer?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the postgres example over ssh", { timeout: 900_000 }, () => {
  it("first login: the service answers psql by its name, the dotfiles are cloned and installed, on_create's output is on stderr, stdout has only the command's", async () => {
    const r = await login(ALICE, "psql -h postgres -tAc 'select 1'; cat ~/dotfiles/marker ~/.dots-installed ~/.on-create-runs ~/.on-start-runs");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `1\n${marker}\ninstalled\nonce\nagain\n`);
    assert.match(r.stderr, /setting up environment pg: cloning dotfiles/);
    assert.match(r.stderr, /dotfiles install ran in \/home\/e2e-svc\/dotfiles/);
    // The example's own on_create queried the server: readiness came before the hooks.
    assert.match(r.stderr, /postgres example created; the server answers 1/);
    assert.match(r.stderr, /postgres example ready: psql -h postgres/);
  });

  it("later logins run on_start each time and on_create never again", async () => {
    const r = await login(ALICE, "cat ~/.on-create-runs ~/.on-start-runs");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "once\nagain\nagain\n");
    assert.doesNotMatch(r.stderr, /postgres example created/);
    assert.match(r.stderr, /postgres example ready/);
  });

  it("keeps scp to the project byte-exact while the hooks write to stderr", async () => {
    await assertScpRoundTrip(node, ALICE, PROJECT, work);
  });

  it("runs the service hardened as claimed: CapDrop ALL, no-new-privileges, limits, read-only root, no host port, only its internal network", () => {
    const s = inspect(SERVICE);
    assert.deepEqual(s.HostConfig.CapDrop, ["ALL"]);
    assert.deepEqual(s.HostConfig.CapAdd ?? [], []);
    assert.deepEqual(s.HostConfig.SecurityOpt, ["no-new-privileges:true"]);
    assert.equal(s.HostConfig.Privileged, false);
    assert.equal(s.HostConfig.ReadonlyRootfs, true);
    assert.equal(s.HostConfig.Memory, 512 * 1024 ** 2, "the main container's 512m bounds the service's share");
    assert.equal(s.HostConfig.PidsLimit, 256);
    assert.equal(s.HostConfig.NanoCpus, 1e9);
    assert.deepEqual(s.HostConfig.PortBindings ?? {}, {});
    assert.deepEqual(Object.values(s.NetworkSettings.Ports ?? {}).filter((v) => v !== null), []);
    assert.deepEqual(Object.keys(s.NetworkSettings.Networks), [SERVICES_NET]);
    assert.deepEqual(dockerLines(["network", "inspect", "--format", "{{.Internal}}", SERVICES_NET]), ["true"]);
    assert.deepEqual(dockerLines(["volume", "ls", "-q", "--filter", `name=${INSTANCE}.${ALICE}.${PROJECT}.pgdata`]), [`${INSTANCE}.${ALICE}.${PROJECT}.pgdata`]);
  });

  it("another user's session cannot reach this user's postgres, which this user's own session reaches at the same address", async () => {
    // Alice holds her environment with a session of her own (the grace period is 3 s here), so
    // the address is her live service's for the whole check.
    const holder = login(ALICE, "sleep 20");
    assert.ok(await eventually(() => dockerLines(["inspect", "--format", "{{.State.Running}}", SERVICE]).join("") === "true" && node.containers().some((l) => l.startsWith(`${INSTANCE}.${ALICE}.${PROJECT} running`)), 60_000), "alice's environment is up");
    const address = inspect(SERVICE).NetworkSettings.Networks[SERVICES_NET]?.IPAddress ?? "";
    assert.match(address, /^\d+\.\d+\.\d+\.\d+$/);
    // The probe's packets go to the services network's bridge on this host, nowhere else.
    assert.match(execFileSync("ip", ["route", "get", address], { encoding: "utf8" }), /dev br-/);
    const probe = `timeout 5 bash -c 'exec 3<>/dev/tcp/${address}/5432' 2>/dev/null && echo reached || echo blocked`;
    const own = await login(ALICE, probe);
    assert.equal(own.stdout, "reached\n", own.stderr);
    const other = await login(BOB, probe, null);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout, "blocked\n");
    const otherByName = await login(BOB, "getent hosts postgres || echo no-such-host", null);
    assert.equal(otherByName.stdout, "no-such-host\n");
    assert.equal(dockerLines(["inspect", "--format", "{{.State.Running}}", SERVICE]).join(""), "true", "alice's postgres was up all along");
    assert.equal((await holder).code, 0);
  });
});

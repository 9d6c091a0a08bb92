/**
 * `mount: copy` over real ssh: a project added from a repository (`add-project --repo`, read by the
 * node from a git daemon of this test's own, in a network namespace) gets that repository cloned
 * as the user into its workspace on first create, at the commit the node read (not the branch's
 * later head), before on_create, which sees it; a later session does not clone again; scp to the
 * project stays byte-exact while the hooks write to stderr.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCommand } from "../../scripts/local-node.js";
import { eventually, INSTANCE, startNode, type NodeHandle } from "./harness.js";
import { startGitDaemon, type GitDaemon } from "./git-daemon.js";
import { assertScpRoundTrip } from "./scp-round-trip.js";

const USER = "e2e-copy";
const PROJECT = "web";
/** TEST-NET-3 (RFC 5737), a /30 of its own beside the services test's. */
const GIT_NETNS = "pse2e-copy-git";
const HOST_SIDE = { dev: "pse2ecgit0", ip: "203.0.113.81" };
const NS_SIDE = { dev: "pse2ecgit1", ip: "203.0.113.82" };
const URL = `git://${NS_SIDE.ip}/web`;
const marker = randomBytes(6).toString("hex");
const PODFILE = [
  "base: podspawn/default:bookworm",
  "mount: copy",
  "branch: main",
  // on_create runs in the workspace, after the clone: it sees the repository's files.
  'on_create: echo "on_create saw $(cat marker) in $(pwd)" | tee "$HOME/.on-create-saw" >&2',
  "on_start: echo on_start ran >&2",
  "",
].join("\n");

let node: NodeHandle;
let work: string;
let repo: string;
let pinned: string;
let gitServer: GitDaemon | undefined;

async function must(cmd: string, args: readonly string[]): Promise<string> {
  const r = await runCommand(cmd, args, { timeoutMs: 600_000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const git = (...args: string[]) => must("git", ["-C", repo, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", ...args]);

/** A read-only `git daemon` in a namespace of its own, serving the project's repository. */
async function startGitServer(): Promise<void> {
  repo = join(work, "git", "web");
  await must("git", ["init", "-q", "-b", "main", repo]);
  await writeFile(join(repo, "podfile.yaml"), PODFILE);
  await writeFile(join(repo, "marker"), `${marker}\n`);
  await git("add", ".");
  await git("commit", "-q", "-m", "first");
  await chmod(work, 0o755);
  gitServer = await startGitDaemon({ netns: GIT_NETNS, host: HOST_SIDE, inside: NS_SIDE, baseDir: join(work, "git"), probeRepo: "web" });
}

const login = (command: string) => node.ssh(USER, ["-o", `SetEnv=PODSPAWN_PROJECT=${PROJECT}`, command], { timeoutMs: 300_000 });

before(async () => {
  work = await mkdtemp(join(tmpdir(), "podspawn-e2e-copy-"));
  await startGitServer();
  node = await startNode([USER]);
  // The node reads the repository over the same URL the containers clone.
  const r = await node.podspawn(["add-project", PROJECT, "--repo", URL]);
  assert.equal(r.code, 0, r.stderr);
  pinned = (await git("rev-parse", "HEAD")).trim();
  assert.match(r.stdout, new RegExp(`at ${pinned.slice(0, 12)}`));
  // The branch moves on after the node read it: containers still get the commit the node read.
  await writeFile(join(repo, "marker"), "later\n");
  await git("commit", "-q", "-am", "later");
});

after(async () => {
  await node?.stop();
  await gitServer?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("mount: copy over ssh", { timeout: 600_000 }, () => {
  it("first login: the repository is in the workdir at the commit the node read, on branch main, and on_create saw it", async () => {
    const r = await login("pwd; cat marker; git rev-parse HEAD; git rev-parse --abbrev-ref HEAD; cat ~/.on-create-saw");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `/home/${USER}/web\n${marker}\n${pinned}\nmain\non_create saw ${marker} in /home/${USER}/web\n`);
    assert.match(r.stderr, new RegExp(`setting up environment web: cloning the project into ~/web \\(main at ${pinned.slice(0, 12)}\\)`));
    assert.match(r.stderr, /on_start ran/);
  });

  it("a later session does not clone again: the workdir keeps what the user changed", async () => {
    // A session of the user's own holds the environment (the grace period is short here).
    const holder = login("sleep 10");
    assert.ok(await eventually(() => node.containers().some((l) => l.startsWith(`${INSTANCE}.${USER}.${PROJECT} running`)), 60_000), "the environment is up");
    const edit = await login("echo mine > marker && touch untracked");
    assert.equal(edit.code, 0, edit.stderr);
    const r = await login("cat marker; ls untracked; git status --porcelain | sort");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "mine\nuntracked\n M marker\n?? untracked\n");
    assert.doesNotMatch(r.stderr, /cloning the project/);
    assert.doesNotMatch(r.stderr, /on_create saw/);
    assert.match(r.stderr, /on_start ran/);
    assert.equal((await holder).code, 0);
  });

  it("keeps scp to the project byte-exact while the hooks write to stderr", async () => {
    await assertScpRoundTrip(node, USER, PROJECT, work);
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRepos } from "../../agent/src/adapters/git/project-repos.js";
import { InputError } from "../../agent/src/core/errors.js";

/** The clones of --repo projects, with the real git against local repositories (path and file://). */
const root = mkdtempSync(join(tmpdir(), "pst-repos-"));
const origin = join(root, "origin");
const store = join(root, "store");
const git = (cwd: string, ...args: string[]): string => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd, encoding: "utf8" }).trim();
let mainCommit = "";
let devCommit = "";

before(() => {
  execFileSync("git", ["init", "-q", "-b", "main", origin]);
  writeFileSync(join(origin, "podfile.yaml"), "base: podspawn/default:bookworm\n");
  git(origin, "add", ".");
  git(origin, "commit", "-qm", "main");
  mainCommit = git(origin, "rev-parse", "HEAD");
  git(origin, "checkout", "-qb", "dev");
  writeFileSync(join(origin, "podfile.yaml"), "base: podspawn/default:bookworm\npackages: [jq]\n");
  git(origin, "commit", "-qam", "dev");
  devCommit = git(origin, "rev-parse", "HEAD");
  git(origin, "checkout", "-q", "main");
});
after(() => rmSync(root, { recursive: true, force: true }));

describe("project repositories (git)", () => {
  it("clones the default branch of a file:// URL, pins its commit, and keeps the clone as the project's", async () => {
    const repos = projectRepos(store);
    const f = await repos.fetch("web", `file://${origin}`, null);
    assert.equal(f.commit, mainCommit);
    assert.equal(readFileSync(join(f.dir, "podfile.yaml"), "utf8"), "base: podspawn/default:bookworm\n");
    const kept = await f.keep();
    assert.equal(kept, join(store, "web"));
    assert.equal(git(kept, "rev-parse", "HEAD"), mainCommit);
    assert.deepEqual(readdirSync(store), ["web"], "no work directory left");
  });

  it("clones a branch from a local path, replacing the previous clone", async () => {
    const repos = projectRepos(store);
    const f = await repos.fetch("web", origin, "dev");
    assert.equal(f.commit, devCommit);
    await f.keep();
    assert.match(readFileSync(join(store, "web", "podfile.yaml"), "utf8"), /jq/);
    await repos.remove("web");
    assert.equal(existsSync(join(store, "web")), false);
  });

  it("refuses a branch the repository does not have with git's reason, leaving nothing behind", async () => {
    const repos = projectRepos(store);
    await assert.rejects(repos.fetch("api", `file://${origin}`, "nope"), (err: unknown) => err instanceof InputError && /^--repo: git could not clone file:\/\/.* \(branch nope\): .*nope/.test(err.message));
    assert.deepEqual(readdirSync(store).filter((n) => n.includes("api")), []);
  });

  it("gives up at its timeout, leaving nothing behind", async () => {
    const repos = projectRepos(store, undefined, 1);
    await assert.rejects(repos.fetch("slow", `file://${origin}`, null), (err: unknown) => err instanceof InputError && /timed out after 1 ms/.test(err.message));
    assert.deepEqual(readdirSync(store).filter((n) => n.includes("slow")), []);
  });

  it("drops a clone that is not kept", async () => {
    const f = await projectRepos(store).fetch("tmp", origin, null);
    await f.drop();
    assert.equal(existsSync(f.dir), false);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../../agent/src/core/errors.js";
import { loadGitConfig, loadProjectsFile } from "../../infra/src/config/git-config.js";
import { parseProjectsConfig } from "../../agent/src/core/config/projects-config.js";
import { buildApp } from "../../infra/src/app.js";
import { ALICE_KEY, awsEnv } from "./fixtures.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

describe("users and projects from git", () => {
  it("loads the example files shipped in infra/config", () => {
    const git = loadGitConfig(join(root, "infra/config/users.yaml"));
    assert.ok(git.users.users.length > 0);
    assert.ok(loadProjectsFile(join(root, "infra/config/projects.yaml")).projects.some((p) => p.name === "default"));
  });

  it("reports a bad project name with file and line", () => {
    const text = "version: 1\nprojects:\n  - name: ok\n  - name: Bad_Name\n";
    assert.throws(() => parseProjectsConfig(text, "projects.yaml"), (err: unknown) => err instanceof InputError && err.field === "projects.yaml:4: projects[1].name");
  });

  it("refuses unknown fields, duplicates and escaping podfile paths", () => {
    assert.throws(() => parseProjectsConfig("version: 1\nprojects:\n  - name: a\n    image: x\n", "p.yaml"), /p\.yaml:4: projects\[0\]\.image/);
    assert.throws(() => parseProjectsConfig("version: 1\nprojects:\n  - name: a\n  - name: a\n", "p.yaml"), /appears twice/);
    assert.throws(() => parseProjectsConfig("version: 1\nprojects:\n  - name: a\n    podfile: ../../etc/passwd\n", "p.yaml"), /repository-relative/);
  });

  it("reads projects with optional Podfile paths; no projects key means none", () => {
    assert.deepEqual(parseProjectsConfig("version: 1\nprojects:\n  - name: web\n    podfile: podfiles/web.yaml\n  - name: default\n", "p.yaml").projects, [{ name: "web", podfile: "podfiles/web.yaml" }, { name: "default" }]);
    assert.deepEqual(parseProjectsConfig("version: 1\n", "p.yaml").projects, []);
  });

  it("words each refusal with file, line, path and what is allowed", () => {
    const says = (text: string, message: string): void => assert.throws(() => parseProjectsConfig(text, "p.yaml"), (err: unknown) => err instanceof InputError && err.message === message);
    says("version: 1\nprojects:\n  - name: a\n  - name: a\n", 'p.yaml:4: projects[1].name: "a" appears twice (allowed: unique project names)');
    says("version: 1\nprojects:\n  - name: a\n    podfile: /etc/passwd\n", 'p.yaml:4: projects[0].podfile: "/etc/passwd" is not a repository-relative path (allowed: a path inside the repository, e.g. podfiles/web.yaml: no leading \'/\', no \'..\')');
    says("version: 1\nprojects:\n  - name: a\n    podfle: x.yaml\n", "p.yaml:4: projects[0].podfle: unknown field; did you mean podfile? (allowed: name, podfile)");
    says("version: 2\nprojects: []\n", "p.yaml:1: version: expected 1, got number 2");
  });

  it("fails synth of the whole app when users.yaml has a bad key, naming file and line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podspawn-git-"));
    const bundle = join(dir, "bundle");
    const cfg = join(dir, "config");
    mkdirSync(bundle);
    mkdirSync(cfg);
    for (const f of ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"]) writeFileSync(join(bundle, f), "//\n");
    writeFileSync(join(cfg, "projects.yaml"), "version: 1\nprojects: []\n");
    const broken = ALICE_KEY.replace("AAAAC3", "AAAAB3");
    writeFileSync(join(cfg, "users.yaml"), `version: 1\nusers:\n  - name: alice\n    keys:\n      - ${ALICE_KEY}\n  - name: bob\n    keys:\n      - ${broken}\n`);
    const usersFile = join(cfg, "users.yaml");
    await assert.rejects(
      () => buildApp({ targets: [awsEnv()], root: dir, bundleDir: bundle, configDir: cfg, outdir: join(dir, "out") }),
      (err: unknown) => err instanceof InputError && err.field.startsWith(`${usersFile}:8: users[1].keys[0]`),
    );
  });
});

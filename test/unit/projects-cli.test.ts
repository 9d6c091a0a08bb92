import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { FakeImageBuilder } from "../../agent/src/adapters/fake/fake-image-builder.js";
import { sourceOf } from "../../agent/src/cli/commands/projects/add-project.js";
import { makePrebuildCommand } from "../../agent/src/cli/commands/podfile/prebuild.js";
import { makeSyncCommand } from "../../agent/src/cli/commands/users/sync.js";
import type { CommandIo } from "../../agent/src/cli/command.js";
import { main } from "../../agent/src/cli/main.js";
import { INIT_TEMPLATES } from "../../agent/src/core/podfile/index.js";
import { projectWorld, WORLD_IMAGE, type ProjectWorld } from "./helpers/project-world.js";

let w: ProjectWorld;
beforeEach(() => (w = projectWorld()));
afterEach(() => w.dispose());

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

function ioFor(): CommandIo & { text(): { out: string; err: string } } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  return { stdout, stderr, env: {}, layout: w.layout, text: () => ({ out, err }) };
}

async function cli(argv: string[]): Promise<Ran> {
  const io = ioFor();
  const code = await main(argv, io);
  return { code, ...io.text() };
}

describe("podspawn podfile validate", () => {
  it("exits 0 with one summary line for a valid Podfile, reading relative extends from the file's own directory", async () => {
    const file = w.file("proj/web/podfile.yaml", "extends: ../shared/base.yaml\nname: web\npackages: [jq]\n");
    w.file("proj/shared/base.yaml", `base: ${WORLD_IMAGE}\n`);
    const r = await cli(["podfile", "validate", file]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^${file}: valid; builds podspawn/web:podfile-[0-9a-f]{12} from podspawn/default:bookworm; 0 service\\(s\\)\\n$`));
  });

  it("exits 2 with the path-qualified error of the first problem, in the file that has it", async () => {
    const file = w.file("proj/web/podfile.yaml", "extends: ./base.yaml\n");
    w.file("proj/web/base.yaml", `base: ${WORLD_IMAGE}\nservices:\n  - name: db\n    image: 42\n`);
    const r = await cli(["podfile", "validate", file]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, new RegExp(`^podspawn podfile: ${join(w.root, "proj/web/base.yaml")}:4: services\\[0\\]\\.image: expected an image reference, got number 42`));
  });

  it("checks the node's caps when run on a node (a config.yaml), and only the format's bounds elsewhere", async () => {
    const file = w.file("proj/big/podfile.yaml", `base: ${WORLD_IMAGE}\nresources:\n  memory: 16g\n`);
    assert.equal((await cli(["podfile", "validate", file])).code, 0, "no config.yaml: not a node");
    w.file("etc/config.yaml", "resources:\n  memory: 4g\n");
    const r = await cli(["podfile", "validate", file]);
    assert.equal(r.code, 2);
    assert.match(r.err, /podfile\.yaml:3: resources\.memory: 16g is above this node's cap of 4g/);
  });

  it("refuses mount: copy for a file outside a git work tree (a --podfile project has no repository), naming the field", async () => {
    const file = w.file("proj/web/podfile.yaml", `base: ${WORLD_IMAGE}\nmount: copy\n`);
    const r = await cli(["podfile", "validate", file]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^podspawn podfile: mount: copy clones the project's repository into the workspace, and this project has none/);
  });

  it("checks a file inside a git work tree as that repository's Podfile: mount: copy is valid, with a note on what it needs", async () => {
    const file = w.file("repo/.podspawn/podfile.yaml", `base: ${WORLD_IMAGE}\nmount: copy\n`);
    mkdirSync(join(w.root, "repo", ".git"));
    const r = await cli(["podfile", "validate", file]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /: valid; runs podspawn\/default:bookworm as it is; 0 service\(s\)\n$/);
    assert.equal(r.err, `warning: ${file}: mount: copy clones the repository (${join(w.root, "repo")} here) into ~/repo when the project is added with add-project --repo; a project added with --podfile is refused\n`);
  });

  it("refuses an action it does not know", async () => {
    const r = await cli(["podfile", "lint", "x"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^podspawn podfile: podfile: unknown action "lint" \(allowed: validate\)/);
  });
});

describe("podspawn init", () => {
  it("writes the starter the directory's files call for", async () => {
    const dir = join(w.root, "app");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), "{}");
    writeFileSync(join(dir, "go.mod"), "module x");
    const r = await cli(["init", dir]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `wrote ${dir}/podfile.yaml: the fullstack starter (found package.json)\n`);
    assert.equal(readFileSync(join(dir, "podfile.yaml"), "utf8"), INIT_TEMPLATES.fullstack);
  });

  it("refuses to overwrite a Podfile the directory has", async () => {
    const dir = join(w.root, "app");
    mkdirSync(join(dir, ".podspawn"), { recursive: true });
    writeFileSync(join(dir, ".podspawn/podfile.yaml"), "mine");
    const r = await cli(["init", dir]);
    assert.equal(r.code, 2);
    assert.match(r.err, /already exists; refusing to overwrite it/);
    assert.deepEqual(readdirSync(dir), [".podspawn"]);
    assert.equal(readFileSync(join(dir, ".podspawn/podfile.yaml"), "utf8"), "mine");
  });
});

describe("podspawn add-project flags", () => {
  it("takes one source, or none for the default environment", () => {
    assert.deepEqual(sourceOf({ podfile: undefined, repo: undefined, branch: undefined, path: undefined }), { kind: "default" });
    assert.deepEqual(sourceOf({ podfile: "/p.yaml", repo: undefined, branch: undefined, path: undefined }), { kind: "podfile", file: "/p.yaml" });
    assert.deepEqual(sourceOf({ podfile: undefined, repo: "file:///srv/r.git", branch: "dev", path: "pods/web.yaml" }), { kind: "repo", url: "file:///srv/r.git", branch: "dev", path: "pods/web.yaml" });
  });

  it("refuses every wrong combination by name", async () => {
    const says = async (argv: string[], re: RegExp): Promise<void> => {
      const r = await cli(["add-project", "web", ...argv]);
      assert.equal(r.code, 2);
      assert.match(r.err, re);
    };
    await says(["--podfile", "/p.yaml", "--repo", "file:///r"], /--podfile: cannot be given with --repo/);
    await says(["--branch", "dev"], /--branch: only goes with --repo/);
    await says(["--podfile", "/p.yaml", "--path", "x.yaml"], /--path: only goes with --repo/);
    await says(["--repo=-upload-pack=evil"], /--repo: "-upload-pack=evil" is not a git URL/);
    await says(["--repo", "file:///r", "--branch", "../x"], /--branch: "\.\.\/x" is not a branch name/);
    await says(["--repo", "file:///r", "--path", "../etc/passwd"], /--path: "\.\.\/etc\/passwd" is not a path inside the repository/);
    assert.equal(existsSync(w.layout.projectsDir), false, "nothing written");
  });
});

describe("podspawn sync", () => {
  it("needs --file or --projects", async () => {
    const io = ioFor();
    await assert.rejects(makeSyncCommand().run([], io), /needs --file USERS\.yaml, --projects PROJECTS\.yaml, or both/);
  });

  it("checks the projects file before the users change: a bad one changes neither", async () => {
    let usersRan = false;
    const cmd = makeSyncCommand({
      users: () => {
        usersRan = true;
        throw new Error("users must not be touched");
      },
      projects: () => w.deps,
    });
    const projects = w.file("repo/projects.yaml", "version: 1\nprojects:\n  - name: web\n    podfile: nope.yaml\n");
    await assert.rejects(cmd.run(["--file", "/users.yaml", "--projects", projects], ioFor()), /nope\.yaml: does not exist/);
    assert.equal(usersRan, false);
  });
});

describe("podspawn prebuild", () => {
  it("builds a Podfile's image with its steps on stderr and the image on stdout; the second run builds nothing", async () => {
    const images = new Map([[WORLD_IMAGE, new Map<string, Buffer>()]]);
    const builder = new FakeImageBuilder(images);
    const cmd = makePrebuildCommand(() => builder);
    const file = w.file("proj/web/podfile.yaml", `base: ${WORLD_IMAGE}\nextra_commands: [echo hi]\n`);
    const first = ioFor();
    assert.equal(await cmd.run([file], first), 0);
    assert.match(first.text().out, /^built podspawn\/web:podfile-[0-9a-f]{12} in \d+\.\d s \(log: .*\/state\/builds\/podspawn_web_podfile-[0-9a-f]{12}\.[0-9T-]+Z\.log\)\n$/);
    assert.match(first.text().err, /^podspawn: building environment web: step 1\/\d+ : FROM podspawn\/default:bookworm\n/);
    const second = ioFor();
    assert.equal(await cmd.run([file, "--project", "web"], second), 0);
    assert.match(second.text().out, /^podspawn\/web:podfile-[0-9a-f]{12} is up to date\n$/);
    assert.equal(builder.builds.length, 1);
  });

  it("builds a registered project's image exactly as its logins would plan it", async () => {
    const builder = new FakeImageBuilder(new Map([[WORLD_IMAGE, new Map<string, Buffer>()]]));
    w.file("etc/config.yaml", `image: ${WORLD_IMAGE}\n`);
    const { addProject } = await import("../../agent/src/admin/projects/add-project.js");
    await addProject({ name: "api", source: { kind: "podfile", file: w.file("api.yaml", `base: ${WORLD_IMAGE}\nextra_commands: [echo api]\n`) } }, w.deps);
    const io = ioFor();
    assert.equal(await makePrebuildCommand(() => builder).run(["--project", "api"], io), 0);
    assert.deepEqual(builder.builds.map((b) => b.tags[0]?.replace(/podfile-.*/, "")), ["podspawn/api:"]);
    await assert.rejects(makePrebuildCommand(() => builder).run(["--project", "nope"], ioFor()), /--project: no project nope on this node/);
  });
});

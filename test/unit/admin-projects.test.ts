import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addProject } from "../../agent/src/admin/projects/add-project.js";
import { listProjects } from "../../agent/src/admin/projects/list-projects.js";
import { removeProject } from "../../agent/src/admin/projects/remove-project.js";
import { applyProjectSync, prepareProjectSync } from "../../agent/src/admin/projects/sync-projects.js";
import { updateProject } from "../../agent/src/admin/projects/update-project.js";
import { InputError } from "../../agent/src/core/errors.js";
import { projectWorld, WORLD_IMAGE, type ProjectWorld } from "./helpers/project-world.js";

const MINIMAL = `name: web\nbase: ${WORLD_IMAGE}\npackages: [curl]\n`;
let w: ProjectWorld;
beforeEach(() => (w = projectWorld()));
afterEach(() => w.dispose());

const inputError = (re: RegExp) => (err: unknown) => err instanceof InputError && re.test(err.message);

describe("add-project", () => {
  it("registers a Podfile with everything it extends, as it is now, root-only", async () => {
    const file = w.file("srv/web/podfile.yaml", `extends: ../base.yaml\nname: web\npackages: [jq]\n`);
    w.file("srv/base.yaml", `base: ${WORLD_IMAGE}\npackages: [curl]\n`);
    const record = await addProject({ name: "web", source: { kind: "podfile", file } }, w.deps);
    assert.deepEqual(record.source, { kind: "podfile", file });
    assert.deepEqual(Object.keys(record.podfile?.files ?? {}).sort(), [join(w.root, "srv/base.yaml"), file].sort());
    assert.deepEqual(await w.registry.list(), ["web"]);
    assert.equal(statSync(join(w.layout.projectsDir, "web.json")).mode & 0o777, 0o600);
    assert.equal(statSync(w.layout.projectsDir).mode & 0o777, 0o700);
    assert.match(w.out[0] ?? "", /^added project web: Podfile .*\/srv\/web\/podfile\.yaml; image podspawn\/web:podfile-[0-9a-f]{12} \(built from podspawn\/default:bookworm\); built at its first login, or now with: podspawn prebuild --project web$/);
    // The snapshot is what logins use: editing the file changes nothing until update-project.
    writeFileSync(file, "garbage: [");
    assert.deepEqual((await w.registry.read("web"))?.podfile, record.podfile);
  });

  it("refuses a bad Podfile naming file and line, and writes nothing", async () => {
    const file = w.file("web.yaml", `base: ${WORLD_IMAGE}\npackges: [curl]\n`);
    await assert.rejects(addProject({ name: "web", source: { kind: "podfile", file } }, w.deps), inputError(/web\.yaml:2: packges: unknown field; did you mean packages\?/));
    assert.deepEqual(await w.registry.list(), []);
  });

  it("refuses a Podfile above this node's caps, with the cap", async () => {
    const file = w.file("web.yaml", `base: ${WORLD_IMAGE}\nresources:\n  memory: 64g\n`);
    await assert.rejects(addProject({ name: "web", source: { kind: "podfile", file } }, w.deps), inputError(/web\.yaml:3: resources\.memory: 64g is above this node's cap of 2g/));
  });

  it("refuses a name that exists, and a name that is not a project name", async () => {
    await addProject({ name: "web", source: { kind: "default" } }, w.deps);
    await assert.rejects(addProject({ name: "web", source: { kind: "default" } }, w.deps), inputError(/^NAME: project web already exists/));
    await assert.rejects(addProject({ name: "Web!", source: { kind: "default" } }, w.deps), inputError(/^NAME: "Web!" is not a valid project name/));
  });

  it("without a source registers the node's default environment under the name", async () => {
    const record = await addProject({ name: "audit", source: { kind: "default" } }, w.deps);
    assert.deepEqual([record.source, record.podfile], [{ kind: "default" }, null]);
    assert.equal(w.out[0], "added project audit: the node's default environment; image podspawn/default:bookworm as it is");
  });

  it("warns when the image it builds on is not on the node (nothing is pulled), and registers it anyway", async () => {
    const file = w.file("web.yaml", `base: team/absent:1\npackages: [curl]\n`);
    await addProject({ name: "web", source: { kind: "podfile", file } }, w.deps);
    assert.deepEqual(w.err, ["warning: the image team/absent:1 is not on this node: logins to project web fail until it is (nothing is pulled)"]);
  });

  it("clones a repository, reads its podfile.yaml, pins the commit and keeps the clone", async () => {
    w.remotes.set("file:///srv/web.git", new Map([["main", { "podfile.yaml": MINIMAL }]]));
    const record = await addProject({ name: "web", source: { kind: "repo", url: "file:///srv/web.git", branch: null, path: null } }, w.deps);
    assert.equal(record.source.kind, "repo");
    assert.match(record.source.kind === "repo" ? record.source.commit : "", /^[0-9a-f]{40}$/);
    assert.deepEqual(Object.keys(record.podfile?.files ?? {}), ["/podfile.yaml"], "files are named inside the repository, not by the clone's path");
    assert.deepEqual(w.repoLog, ["fetch web file:///srv/web.git -", "keep web"]);
  });

  it("imports a repository's devcontainer.json where it has no Podfile, and lists what it left out", async () => {
    w.images?.add("mcr.example/dev:1");
    w.remotes.set("https://git.example/app.git", new Map([["dev", { ".devcontainer/devcontainer.json": '{ "image": "mcr.example/dev:1", "remoteUser": "vscode", "forwardPorts": [3000] }' }]]));
    const record = await addProject({ name: "app", source: { kind: "repo", url: "https://git.example/app.git", branch: "dev", path: null } }, w.deps);
    assert.equal(record.podfile?.entry, "/.devcontainer/devcontainer.json (as a Podfile)");
    assert.equal(w.err.length, 1);
    assert.match(w.err[0] ?? "", /^warning: \/\.devcontainer\/devcontainer\.json:1: remoteUser: sessions always run as the pod user; left out$/);
    assert.deepEqual(record.notes, [w.err[0]?.slice("warning: ".length)]);
  });

  it("refuses a repository without a Podfile, and drops its clone", async () => {
    w.remotes.set("file:///srv/empty.git", new Map([["main", { "README.md": "hi" }]]));
    await assert.rejects(addProject({ name: "web", source: { kind: "repo", url: "file:///srv/empty.git", branch: null, path: null } }, w.deps), inputError(/^--repo: the repository has no Podfile \(looked for \.podspawn\/podfile\.yaml, podfile\.yaml, \.devcontainer\/devcontainer\.json, \.devcontainer\.json\)/));
    assert.deepEqual(w.repoLog, ["fetch web file:///srv/empty.git -", "drop web"]);
    assert.deepEqual(await w.registry.list(), []);
  });

  it("never reads a Podfile out of a repository through a symlink", async () => {
    const outside = w.file("secret.yaml", MINIMAL);
    w.remotes.set("file:///srv/evil.git", new Map([["main", { "podfile.yaml": "extends: ./base.yaml\n", "keep.txt": "" }]]));
    // The scripted clone writes files; make base.yaml a link out of it before the resolve reads it.
    const repos = w.deps.repos;
    const deps = {
      ...w.deps,
      repos: {
        ...repos,
        fetch: async (p: string, u: string, b: string | null) => {
          const f = await repos.fetch(p, u, b);
          symlinkSync(outside, join(f.dir, "base.yaml"));
          return f;
        },
      },
    };
    await assert.rejects(addProject({ name: "evil", source: { kind: "repo", url: "file:///srv/evil.git", branch: null, path: null } }, deps), inputError(/^\/base\.yaml: leads outside the repository/));
    assert.deepEqual(await w.registry.list(), []);
  });
});

describe("update-project", () => {
  it("says a project is up to date and writes nothing when its source has not changed", async () => {
    const file = w.file("web.yaml", MINIMAL);
    await addProject({ name: "web", source: { kind: "podfile", file } }, w.deps);
    const before = statSync(join(w.layout.projectsDir, "web.json")).mtimeMs;
    await updateProject("web", w.deps);
    assert.match(w.out[1] ?? "", /^project web is up to date: /);
    assert.equal(statSync(join(w.layout.projectsDir, "web.json")).mtimeMs, before);
  });

  it("keeps the new version of an edited Podfile, with its new image", async () => {
    const file = w.file("web.yaml", MINIMAL);
    const first = await addProject({ name: "web", source: { kind: "podfile", file } }, w.deps);
    writeFileSync(file, `${MINIMAL}extra_commands: [make]\n`);
    const next = await updateProject("web", w.deps);
    assert.notDeepEqual(next.podfile, first.podfile);
    assert.match(w.out[1] ?? "", /^updated project web: .*image podspawn\/web:podfile-[0-9a-f]{12} .*idle containers are recreated at their next login$/);
    assert.notEqual(w.out[0]?.match(/podfile-[0-9a-f]{12}/)?.[0], w.out[1]?.match(/podfile-[0-9a-f]{12}/)?.[0]);
  });

  it("keeps the old version when the edit is bad", async () => {
    const file = w.file("web.yaml", MINIMAL);
    const first = await addProject({ name: "web", source: { kind: "podfile", file } }, w.deps);
    writeFileSync(file, `${MINIMAL}base: [oops]\n`);
    await assert.rejects(updateProject("web", w.deps), InputError);
    assert.deepEqual(await w.registry.read("web"), first);
  });

  it("pins a repository project to its branch's new commit", async () => {
    w.remotes.set("file:///srv/web.git", new Map([["main", { "podfile.yaml": MINIMAL }]]));
    const first = await addProject({ name: "web", source: { kind: "repo", url: "file:///srv/web.git", branch: null, path: null } }, w.deps);
    w.remotes.get("file:///srv/web.git")?.set("main", { "podfile.yaml": `${MINIMAL}extra_commands: [make]\n` });
    const next = await updateProject("web", w.deps);
    assert.notEqual(next.source.kind === "repo" && next.source.commit, first.source.kind === "repo" && first.source.commit);
    assert.deepEqual(w.repoLog, ["fetch web file:///srv/web.git -", "keep web", "fetch web file:///srv/web.git -", "keep web"]);
  });

  it("refuses a project the node does not have", async () => {
    await assert.rejects(updateProject("nope", w.deps), inputError(/^NAME: no project nope on this node/));
  });
});

describe("remove-project and list-projects", () => {
  it("removes the record and the clone; removing again is refused", async () => {
    await addProject({ name: "web", source: { kind: "default" } }, w.deps);
    await removeProject("web", w.deps);
    assert.deepEqual(await w.registry.list(), []);
    assert.deepEqual(w.repoLog, ["remove web"]);
    await assert.rejects(removeProject("web", w.deps), inputError(/^NAME: no project web on this node/));
  });

  it("lists each project with its image and whether it is there yet", async () => {
    await addProject({ name: "plain", source: { kind: "default" } }, w.deps);
    await addProject({ name: "web", source: { kind: "podfile", file: w.file("web.yaml", MINIMAL) } }, w.deps);
    await addProject({ name: "big", source: { kind: "podfile", file: w.file("big.yaml", `base: ${WORLD_IMAGE}\nresources: {memory: 2g}\n`) } }, w.deps);
    w.config = { ...w.config, resources: { ...w.config.resources, memoryBytes: 1024 ** 3 } };
    const rows = await listProjects(w.deps);
    assert.deepEqual(rows.map((r) => [r.name, r.state]), [["big", "unfit"], ["plain", "built"], ["web", "pending"]]);
    assert.match(rows[0]?.image ?? "", /does not fit this node: .*big\.yaml:2: resources\.memory: 2g is above this node's cap of 1g/);
    w.images = null;
    assert.deepEqual((await listProjects(w.deps)).map((r) => r.state), ["unfit", "unknown", "unknown"]);
  });

  it("refuses a record file that is not what add-project wrote", async () => {
    await addProject({ name: "web", source: { kind: "default" } }, w.deps);
    writeFileSync(join(w.layout.projectsDir, "web.json"), JSON.stringify({ version: 1, name: "other", source: { kind: "default" }, podfile: null, notes: [] }));
    await assert.rejects(w.registry.read("web"), inputError(/web\.json: name: "other" does not match the file name/));
    writeFileSync(join(w.layout.projectsDir, "web.json"), `{"version": 1, "name": "web", "source": {"kind": "podfile", "file": "/x"}, "podfile": null, "notes": []}`);
    await assert.rejects(w.registry.read("web"), inputError(/web\.json:1: podfile: is missing for a project with a Podfile/));
  });
});

describe("the project's own repository (mount: copy)", () => {
  const COPY = `${MINIMAL}mount: copy\n`;

  it("is refused, naming the field, for a project from a Podfile file: add-project and update-project change nothing", async () => {
    const file = w.file("web.yaml", COPY);
    await assert.rejects(addProject({ name: "web", source: { kind: "podfile", file } }, w.deps), inputError(/^mount: copy clones the project's repository into the workspace, and this project has none/));
    assert.deepEqual(await w.registry.list(), []);
    w.file("web.yaml", MINIMAL);
    const record = await addProject({ name: "web", source: { kind: "podfile", file } }, w.deps);
    w.file("web.yaml", COPY);
    await assert.rejects(updateProject("web", w.deps), inputError(/^mount: copy clones the project's repository/));
    assert.deepEqual(await w.registry.read("web"), record);
  });

  it("is refused for a project of the projects file (sync), which changes nothing", async () => {
    w.file("repo/podfiles/web.yaml", COPY);
    const file = w.file("repo/projects.yaml", "version: 1\nprojects:\n  - name: web\n    podfile: podfiles/web.yaml\n");
    await assert.rejects(prepareProjectSync({ file, root: join(w.root, "repo"), dryRun: false }, w.deps), inputError(/^mount: copy clones the project's repository/));
    assert.deepEqual(await w.registry.list(), []);
  });

  it("is taken from a repository the containers can reach, and refused (the clone dropped) for one that is a path on the node", async () => {
    w.remotes.set("git://git.example/web.git", new Map([["main", { "podfile.yaml": COPY }]]));
    const record = await addProject({ name: "web", source: { kind: "repo", url: "git://git.example/web.git", branch: null, path: null } }, w.deps);
    assert.equal(record.source.kind === "repo" && record.source.url, "git://git.example/web.git");
    w.remotes.set("file:///srv/local.git", new Map([["main", { "podfile.yaml": COPY }]]));
    await assert.rejects(addProject({ name: "local", source: { kind: "repo", url: "file:///srv/local.git", branch: null, path: null } }, w.deps), inputError(/^mount: copy clones file:\/\/\/srv\/local\.git inside the container, and that is a path on this node/));
    assert.deepEqual(w.repoLog.slice(-2), ["fetch local file:///srv/local.git -", "drop local"]);
    assert.deepEqual(await w.registry.list(), ["web"]);
  });

  it("without --branch, reads a Podfile that names a branch again from that branch and pins that branch's commit", async () => {
    w.remotes.set("git://git.example/web.git", new Map([["main", { "podfile.yaml": `${COPY}branch: dev\n` }], ["dev", { "podfile.yaml": `${COPY}branch: dev\non_create: echo from-dev\n` }]]));
    const record = await addProject({ name: "web", source: { kind: "repo", url: "git://git.example/web.git", branch: null, path: null } }, w.deps);
    assert.deepEqual(w.repoLog, ["fetch web git://git.example/web.git -", "drop web", "fetch web git://git.example/web.git dev", "keep web"]);
    assert.match(record.podfile?.files["/podfile.yaml"] ?? "", /from-dev/);
    assert.equal(record.source.kind === "repo" && record.source.branch, null, "update-project asks the same again");
    w.remotes.set("git://git.example/odd.git", new Map([["main", { "podfile.yaml": `${COPY}branch: dev\n` }], ["dev", { "podfile.yaml": COPY }]]));
    await assert.rejects(addProject({ name: "odd", source: { kind: "repo", url: "git://git.example/odd.git", branch: null, path: null } }, w.deps), inputError(/^branch: the Podfile on the default branch names branch dev, and the Podfile on dev names no branch/));
    assert.deepEqual(w.repoLog.slice(-2), ["fetch odd git://git.example/odd.git dev", "drop odd"]);
  });

  it("with --branch, keeps that branch whatever the Podfile names", async () => {
    w.remotes.set("git://git.example/web.git", new Map([["release", { "podfile.yaml": `${COPY}branch: dev\n` }]]));
    await addProject({ name: "web", source: { kind: "repo", url: "git://git.example/web.git", branch: "release", path: null } }, w.deps);
    assert.deepEqual(w.repoLog, ["fetch web git://git.example/web.git release", "keep web"]);
  });
});

describe("sync --projects", () => {
  const sync = async (text: string, dryRun = false): Promise<void> => {
    const file = w.file("repo/infra/config/projects.yaml", text);
    const plan = await prepareProjectSync({ file, root: join(w.root, "repo"), dryRun }, w.deps);
    await applyProjectSync(plan, dryRun, w.deps);
  };

  it("adds, updates and removes projects to match the file, with paths from the repository root", async () => {
    w.file("repo/podfiles/web.yaml", MINIMAL);
    await addProject({ name: "old", source: { kind: "default" } }, w.deps);
    await sync("version: 1\nprojects:\n  - name: default\n  - name: web\n    podfile: podfiles/web.yaml\n");
    assert.deepEqual(await w.registry.list(), ["default", "web"]);
    assert.deepEqual(w.out.slice(1), ["add project default", "add project web", "remove project old", "projects synced: 2 added, 0 updated, 1 removed, 0 unchanged"]);
    w.file("repo/podfiles/web.yaml", `${MINIMAL}packages: [jq]\n`.replace("packages: [curl]\n", ""));
    await sync("version: 1\nprojects:\n  - name: default\n  - name: web\n    podfile: podfiles/web.yaml\n");
    assert.deepEqual(w.out.slice(5), ["update project web", "projects synced: 0 added, 1 updated, 0 removed, 1 unchanged"]);
  });

  it("changes nothing when one listed Podfile is bad, or a path leads out of the repository", async () => {
    w.file("repo/podfiles/web.yaml", MINIMAL);
    w.file("repo/podfiles/bad.yaml", `base: ${WORLD_IMAGE}\nsudo: true\n`);
    await addProject({ name: "keep", source: { kind: "default" } }, w.deps);
    await assert.rejects(sync("version: 1\nprojects:\n  - name: web\n    podfile: podfiles/web.yaml\n  - name: bad\n    podfile: podfiles/bad.yaml\n"), inputError(/bad\.yaml:2: sudo: unknown field/));
    w.file("outside.yaml", MINIMAL);
    symlinkSync(join(w.root, "outside.yaml"), join(w.root, "repo/podfiles/link.yaml"));
    await assert.rejects(sync("version: 1\nprojects:\n  - name: web\n    podfile: podfiles/link.yaml\n"), inputError(/link\.yaml: leads outside the repository/));
    assert.deepEqual(await w.registry.list(), ["keep"]);
  });

  it("prints the plan and changes nothing with --dry-run", async () => {
    await sync("version: 1\nprojects:\n  - name: web\n", true);
    assert.deepEqual(w.out, ["would add project web"]);
    assert.deepEqual(readdirSync(w.root).includes("etc") ? await w.registry.list() : [], []);
  });

  it("refuses a projects file that is not valid, naming its line", async () => {
    await assert.rejects(sync("version: 1\nprojects:\n  - name: web\n  - name: web\n"), inputError(/projects\.yaml:4: projects\[1\]\.name: "web" appears twice/));
    assert.equal(readFileSync(join(w.root, "repo/infra/config/projects.yaml"), "utf8").length > 0, true);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { resolvePodfile, type ResolvedPodfile } from "../../agent/src/core/podfile/index.js";
import { BUNDLED_BASE_IMAGE, CAPS, memoryLoader, resolveText, says, saysLike } from "./helpers/podfile.js";

const lines = (...l: string[]): string => l.join("\n") + "\n";
const BASE = "/p/base.yaml";

/** The child at /p/podfile.yaml over /p/base.yaml. */
async function over(base: string[], child: string[]): Promise<ResolvedPodfile> {
  return (await resolveText(lines("extends: ./base.yaml", ...child), { [BASE]: lines(...base) })).podfile;
}

describe("extends merge rules", () => {
  it("scalars: the child wins, and an unset one inherits the base's", async () => {
    const base = ["base: podspawn/default:bookworm", "shell: /bin/zsh", "mode: persistent", "workspace: src", "mount: copy", "branch: dev", "ports: {strategy: manual}"];
    const kept = await over(base, []);
    assert.deepEqual([kept.base, kept.shell, kept.mode, kept.workspace, kept.mount, kept.branch, kept.ports.strategy], ["podspawn/default:bookworm", "/bin/zsh", "persistent", "src", "copy", "dev", "manual"]);
    const won = await over(base, ["base: podspawn/other:1", "shell: /bin/bash", "mode: destroy-on-disconnect", "workspace: app", "mount: none", "branch: main", "ports: {strategy: expose}"]);
    assert.deepEqual([won.base, won.shell, won.mode, won.workspace, won.mount, won.branch, won.ports.strategy], ["podspawn/other:1", "/bin/bash", "destroy-on-disconnect", "app", "none", "main", "expose"]);
  });

  it("defaults never override a base: a child without shell or a repo branch keeps the base's", async () => {
    const r = await over(["base: x", "shell: /bin/zsh", "repos: [{url: 'https://x/app.git', branch: develop, path: code}]"], ["repos: [{url: 'https://x/app.git'}]"]);
    assert.equal(r.shell, "/bin/zsh");
    assert.deepEqual(r.repos, [{ kind: "repo", url: "https://x/app.git", path: "code", branch: "develop" }]);
  });

  it("defaults apply only to what no layer set", async () => {
    const r = (await resolveText("base: x\n")).podfile;
    assert.deepEqual(r, {
      name: null,
      base: "x",
      packages: [],
      shell: null,
      env: {},
      services: [],
      dotfiles: null,
      repos: [],
      ports: { expose: [], strategy: "auto" },
      resources: { cpus: null, memoryBytes: null },
      onCreate: [],
      onStart: [],
      extraCommands: [],
      mode: null,
      workspace: null,
      mount: "none",
      branch: null,
    });
  });

  it("name is the Podfile's own, not inherited", async () => {
    assert.equal((await over(["base: x", "name: base env"], [])).name, null);
    assert.equal((await over(["base: x", "name: base env"], ["name: web"])).name, "web");
  });

  it("packages: base order then the new ones, de-duplicated", async () => {
    assert.deepEqual((await over(["base: x", "packages: [git, curl, jq]"], ["packages: [vim, curl, make]"])).packages, ["git", "curl", "jq", "vim", "make"]);
  });

  it("packages: !name drops an inherited one (any version), !name@version only that one", async () => {
    assert.deepEqual((await over(["base: x", "packages: [git, curl, nodejs@22]"], ["packages: ['!curl', '!nodejs', jq]"])).packages, ["git", "jq"]);
    assert.deepEqual((await over(["base: x", "packages: [git, nodejs@22]"], ["packages: ['!nodejs@20']"])).packages, ["git", "nodejs@22"]);
    assert.deepEqual((await over(["base: x", "packages: [git, nodejs@22]"], ["packages: ['!nodejs@22']"])).packages, ["git"]);
    assert.deepEqual((await over(["base: x", "packages: [git]"], ["packages: ['!absent']"])).packages, ["git"]);
  });

  it("packages: a child's version of an inherited package replaces it where it stood", async () => {
    assert.deepEqual((await over(["base: x", "packages: [git, nodejs@22, jq]"], ["packages: [nodejs@20]"])).packages, ["git", "nodejs@20", "jq"]);
  });

  it("env: merged by name, the child wins, an empty value deletes", async () => {
    const r = await over(["base: x", "env: {A: a, B: b, C: c, D: d}"], ["env:", "  B: child", "  C: ''", "  D:", "  E: e"]);
    assert.deepEqual(r.env, { A: "a", B: "child", E: "e" });
  });

  it("on_create and on_start: concatenated, base first", async () => {
    const r = await over(["base: x", "on_create: echo base-create", "on_start: [echo base-1, echo base-2]"], ["on_create: echo child-create", "on_start: echo child"]);
    assert.deepEqual(r.onCreate, ["echo base-create", "echo child-create"]);
    assert.deepEqual(r.onStart, ["echo base-1", "echo base-2", "echo child"]);
  });

  it("services: by name; the same name replaces the whole service in place, !x removes, new ones follow", async () => {
    const r = await over(
      ["base: x", "services:", "  - {name: db, image: pg:15, ports: [5432], env: {A: a}}", "  - {name: cache, image: redis:7}", "  - {name: queue, image: mq:1}"],
      ["services:", "  - {name: db, image: pg:16}", "  - {name: '!cache'}", "  - {name: search, image: es:8}"],
    );
    assert.deepEqual(
      r.services.map((s) => [s.name, s.image, s.ports, s.env]),
      [
        ["db", "pg:16", [], {}],
        ["queue", "mq:1", [], {}],
        ["search", "es:8", [], {}],
      ],
    );
  });

  it("repos: by url; the same url updates the fields it sets, !u removes, new ones follow", async () => {
    const r = await over(
      ["base: x", "repos: [{url: 'https://x/a.git', path: a, branch: main}, {url: 'https://x/b.git'}, {url: 'https://x/c.git'}]"],
      ["repos: [{url: 'https://x/a.git', branch: next}, {url: '!https://x/b.git'}, {url: 'https://x/d.git', path: d}]"],
    );
    assert.deepEqual(
      r.repos.map((x) => [x.url, x.path, x.branch]),
      [
        ["https://x/a.git", "a", "next"],
        ["https://x/c.git", null, null],
        ["https://x/d.git", "d", null],
      ],
    );
  });

  it("ports.expose: the union, base order first", async () => {
    assert.deepEqual((await over(["base: x", "ports: {expose: [3000, 8080]}"], ["ports: {expose: [8080, 5173]}"])).ports.expose, [3000, 8080, 5173]);
  });

  it("resources: per field", async () => {
    assert.deepEqual((await over(["base: x", "resources: {cpus: 2, memory: 4g}"], ["resources: {memory: 1g}"])).resources, { cpus: 2, memoryBytes: 1024 ** 3 });
    assert.deepEqual((await over(["base: x", "resources: {memory: 4g}"], ["resources: {cpus: 1}"])).resources, { cpus: 1, memoryBytes: 4 * 1024 ** 3 });
  });

  it("extra_commands: appended", async () => {
    assert.deepEqual((await over(["base: x", "extra_commands: [echo 1, echo 2]"], ["extra_commands: [echo 3]"])).extraCommands, ["echo 1", "echo 2", "echo 3"]);
  });

  it("dotfiles: a child's replaces the base's as a whole", async () => {
    assert.deepEqual((await over(["base: x", "dotfiles: {repo: 'https://x/d.git', install: ./i.sh}"], [])).dotfiles, { repo: "https://x/d.git", install: "./i.sh" });
    assert.deepEqual((await over(["base: x", "dotfiles: {repo: 'https://x/d.git', install: ./i.sh}"], ["dotfiles: {repo: 'https://x/e.git'}"])).dotfiles, { repo: "https://x/e.git", install: null });
  });

  it("key! replaces the inherited value for packages, env, services, repos, on_create, on_start, extra_commands", async () => {
    const base = [
      "base: x",
      "packages: [git, curl]",
      "env: {A: a}",
      "services: [{name: db, image: pg}]",
      "repos: [{url: 'https://x/a.git'}]",
      "on_create: echo base",
      "on_start: echo base",
      "extra_commands: [echo base]",
    ];
    const r = await over(base, ["packages!: [jq]", "env!: {B: b}", "services!: [{name: cache, image: redis}]", "repos!: []", "on_create!: echo child", "on_start!:", "extra_commands!: [echo child]"]);
    assert.deepEqual(r.packages, ["jq"]);
    assert.deepEqual(r.env, { B: "b" });
    assert.deepEqual(r.services.map((s) => s.name), ["cache"]);
    assert.deepEqual(r.repos, []);
    assert.deepEqual(r.onCreate, ["echo child"]);
    assert.deepEqual(r.onStart, []);
    assert.deepEqual(r.extraCommands, ["echo child"]);
  });

  it("env!: an empty value in a replacement is just left out", async () => {
    assert.deepEqual((await over(["base: x", "env: {A: a}"], ["env!: {B: b, C: ''}"])).env, { B: "b" });
  });

  it("merges a chain root first: grandparent, parent, child", async () => {
    const files = {
      "/p/a.yaml": lines("base: x", "packages: [a1]", "on_start: echo a", "env: {L: a}"),
      "/p/b.yaml": lines("extends: ./a.yaml", "packages: [b1]", "on_start: echo b", "env: {L: b}"),
    };
    const r = await resolveText(lines("extends: ./b.yaml", "packages: [c1]", "on_start: echo c"), files);
    assert.deepEqual(r.podfile.packages, ["a1", "b1", "c1"]);
    assert.deepEqual(r.podfile.onStart, ["echo a", "echo b", "echo c"]);
    assert.deepEqual(r.podfile.env, { L: "b" });
    assert.deepEqual(r.chain, ["/p/podfile.yaml", "/p/b.yaml", "/p/a.yaml"]);
  });
});

describe("extends resolution", () => {
  it("resolves a relative path from the Podfile's own directory, at every level", async () => {
    const load = memoryLoader({
      "/srv/team/base/dev.yaml": lines("extends: ../root/root.yaml", "packages: [dev]"),
      "/srv/team/root/root.yaml": lines("base: x", "packages: [root]"),
    });
    const r = await resolvePodfile(lines("extends: ../team/base/dev.yaml"), "/srv/projects/web.yaml", { load, bundledBaseImage: BUNDLED_BASE_IMAGE, caps: CAPS });
    assert.deepEqual(load.calls, [
      { ref: "../team/base/dev.yaml", fromDir: "/srv/projects" },
      { ref: "../root/root.yaml", fromDir: "/srv/team/base" },
    ]);
    assert.deepEqual(r.podfile.packages, ["root", "dev"]);
  });

  it("resolves an absolute path as it is", async () => {
    const load = memoryLoader({ "/etc/podspawn/podfiles/base.yml": lines("base: x", "packages: [abs]") });
    const r = await resolvePodfile("extends: /etc/podspawn/podfiles/base.yml\n", "/p/podfile.yaml", { load, bundledBaseImage: BUNDLED_BASE_IMAGE });
    assert.deepEqual(r.podfile.packages, ["abs"]);
  });

  it("extends a bundled base by bare name, built on the image it is given, without the loader", async () => {
    const load = memoryLoader({});
    const r = await resolvePodfile("extends: ubuntu-dev\npackages: ['!neovim', vim]\n", "/p/podfile.yaml", { load, bundledBaseImage: "podspawn/default:bookworm" });
    assert.equal(load.calls.length, 0);
    assert.equal(r.podfile.base, "podspawn/default:bookworm");
    assert.equal(r.podfile.shell, "/bin/bash");
    assert.deepEqual(r.podfile.packages, ["git", "curl", "wget", "ripgrep", "fzf", "jq", "htop", "tree", "unzip", "make", "build-essential", "ca-certificates", "vim"]);
    assert.deepEqual(r.chain, ["/p/podfile.yaml", "(bundled base ubuntu-dev)"]);
    const other = await resolvePodfile("extends: minimal\n", "/p/podfile.yaml", { load, bundledBaseImage: "team/base:2" });
    assert.equal(other.podfile.base, "team/base:2");
    assert.deepEqual(other.podfile.packages, ["git", "curl", "ca-certificates"]);
  });

  it("keeps the bundled bases' package lists (the reference system's)", async () => {
    const ds = await resolveText("extends: data-science\n");
    assert.deepEqual(ds.podfile.packages, ["python@3.13", "git", "curl", "build-essential", "ca-certificates"]);
    assert.deepEqual(ds.podfile.env, { UV_CACHE_DIR: "/home/${PODSPAWN_USER}/.cache/uv" });
    assert.equal(ds.podfile.onCreate.length, 1);
  });

  it("allows 10 levels of extends and refuses the 11th", async () => {
    const chain = (n: number): Record<string, string> => {
      const files: Record<string, string> = { [`/p/l${n}.yaml`]: lines("base: x", `packages: [p${n}]`) };
      for (let i = 1; i < n; i++) files[`/p/l${i}.yaml`] = lines(`extends: ./l${i + 1}.yaml`, `packages: [p${i}]`);
      return files;
    };
    const ten = await resolveText("extends: ./l1.yaml\n", chain(10));
    assert.equal(ten.chain.length, 11);
    assert.equal(ten.podfile.packages.length, 10);
    await assert.rejects(resolveText("extends: ./l1.yaml\n", chain(11)), says("/p/l10.yaml:1: extends: goes deeper than 10 levels of extends (allowed: at most 10 levels)"));
  });

  it("detects a cycle and names it", async () => {
    const files = { "/p/a.yaml": lines("extends: ./b.yaml"), "/p/b.yaml": lines("packages: [x1]", "extends: ./a.yaml") };
    await assert.rejects(resolveText("extends: ./a.yaml\n", files), says('/p/b.yaml:2: extends: "./a.yaml" leads back to a Podfile already in the chain: /p/a.yaml -> /p/b.yaml -> /p/a.yaml (allowed: a chain without cycles)'));
    await assert.rejects(resolveText("extends: ./podfile.yaml\n", { "/p/podfile.yaml": "extends: ./podfile.yaml\n" }), saysLike(/^\/p\/podfile\.yaml:1: extends: "\.\/podfile\.yaml" leads back to a Podfile already in the chain: \/p\/podfile\.yaml -> \/p\/podfile\.yaml/));
  });

  it("reports an error inside a parent with the parent's file and line", async () => {
    await assert.rejects(resolveText("extends: ./base.yaml\n", { [BASE]: lines("base: x", "packages: [Bad]") }), saysLike(/^\/p\/base\.yaml:2: packages\[0\]: "Bad" is not a package/));
    await assert.rejects(resolveText("extends: ./base.yaml\n", { [BASE]: lines("base: x", "resources: {memory: 64g}") }), says("/p/base.yaml:2: resources.memory: 64g is above this node's cap of 8g (allowed: at most 8g)"));
  });

  it("passes the loader's own InputError through, and words any other failure as 'cannot read'", async () => {
    await assert.rejects(resolveText("extends: ./missing.yaml\n"), says("/p/missing.yaml: no such Podfile"));
    const broken = async () => {
      throw new Error("EACCES: permission denied");
    };
    await assert.rejects(resolvePodfile("extends: ./b.yaml\n", "/p/a.yaml", { load: broken, bundledBaseImage: "x" }), says('/p/a.yaml:1: extends: cannot read "./b.yaml": EACCES: permission denied'));
  });

  it("a parent may be a base that itself extends a bundled base", async () => {
    const r = await resolveText("extends: ./base.yaml\npackages: [cc]\n", { [BASE]: lines("extends: minimal", "packages: ['!curl', bb]") });
    assert.deepEqual(r.podfile.packages, ["git", "ca-certificates", "bb", "cc"]);
    assert.equal(r.podfile.base, BUNDLED_BASE_IMAGE);
  });
});

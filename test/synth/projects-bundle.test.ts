import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { InputError } from "../../agent/src/core/errors.js";
import { readTarFiles } from "../../agent/src/support/tar.js";
import { sha256Hex } from "../../infra/src/bootstrap/agent-bundle.js";
import { checkProjectsBundle, collectProjectsFiles, packProjectsBundle, writeProjectsBundle } from "../../infra/src/bootstrap/projects-bundle.js";

const scratch = mkdtempSync(join(tmpdir(), "podspawn-projects-bundle-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let repos = 0;

/** A repository checkout with these files (paths relative to it); returns its root. */
function repo(files: Record<string, string>): string {
  const root = join(scratch, `repo-${repos++}`);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const BASE = "name: base\nbase: podspawn/default:bookworm\npackages: [curl]\n";
const MID = "name: mid\nextends: ./base.yaml\npackages: [jq]\n";
const WEB = "name: web\nextends: ../shared/mid.yaml\nenv:\n  EDITOR: vi\n";

/** A repository whose projects.yaml names a Podfile with a two-level extends chain, beside files it does not reach. */
function chainRepo(extra: Record<string, string> = {}): string {
  return repo({
    "infra/config/projects.yaml": "version: 1\nprojects:\n  - name: default\n  - name: web\n    podfile: podfiles/web.yaml\n",
    "podfiles/web.yaml": WEB,
    "shared/mid.yaml": MID,
    "shared/base.yaml": BASE,
    "podfiles/unused.yaml": BASE,
    "secrets.env": "TOKEN=do-not-ship\n",
    "infra/config/users.yaml": "version: 1\nusers: []\n",
    ...extra,
  });
}

const source = (root: string) => ({ projectsFile: join(root, "infra/config/projects.yaml"), podfilesRoot: root });

describe("projects bundle", () => {
  it("holds projects.yaml, each named Podfile and every file its extends chain reaches, and nothing else from the repository", async () => {
    const root = chainRepo();
    const files = await collectProjectsFiles(source(root));
    assert.deepEqual([...files.keys()].sort(), ["podfiles/web.yaml", "projects.yaml", "shared/base.yaml", "shared/mid.yaml"]);
    assert.equal(files.get("projects.yaml")?.toString(), readFileSync(join(root, "infra/config/projects.yaml"), "utf8"));
    assert.equal(files.get("shared/base.yaml")?.toString(), BASE);
  });

  it("is a tar of root-owned 0644 regular files, read back as the same files", async () => {
    const root = chainRepo();
    const bundle = await writeProjectsBundle(source(root), join(scratch, "out-list"));
    const tar = readFileSync(bundle.path);
    assert.equal(bundle.sha256, sha256Hex(tar));
    assert.equal(bundle.path, join(scratch, "out-list", `projects-${bundle.sha256}.tar`));
    const listing = execFileSync("tar", ["-tv", "--numeric-owner"], { input: tar }).toString().trim().split("\n");
    assert.equal(listing.length, 4);
    for (const line of listing) assert.match(line, /^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00 [a-z/.]+$/);
    const back = await readTarFiles(tar);
    assert.deepEqual([...back.keys()], ["podfiles/web.yaml", "projects.yaml", "shared/base.yaml", "shared/mid.yaml"], "in path order");
    assert.equal(back.get("podfiles/web.yaml")?.toString(), WEB);
  });

  it("is deterministic: the same files give the same bytes, whatever their mtimes, order or checkout; another Podfile gives another sha256", async () => {
    const a = chainRepo();
    const b = chainRepo();
    utimesSync(join(b, "shared/base.yaml"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const first = await writeProjectsBundle(source(a), join(scratch, "out-a"));
    const second = await writeProjectsBundle(source(b), join(scratch, "out-b"));
    assert.equal(second.sha256, first.sha256);
    assert.deepEqual(readFileSync(second.path), readFileSync(first.path));
    const files = await collectProjectsFiles(source(a));
    const reversed = new Map([...files].reverse());
    assert.equal(sha256Hex(await packProjectsBundle(reversed)), first.sha256);
    const changed = chainRepo({ "shared/base.yaml": BASE.replace("curl", "wget") });
    assert.notEqual((await writeProjectsBundle(source(changed), join(scratch, "out-c"))).sha256, first.sha256);
  });

  it("fails with the agent's own message, file and line, for an invalid Podfile anywhere in the chain", async () => {
    const root = chainRepo({ "shared/base.yaml": "name: base\nbase: podspawn/default:bookworm\npackges: [curl]\n" });
    await assert.rejects(() => writeProjectsBundle(source(root), join(scratch, "out-bad")), (err: unknown) => err instanceof InputError && err.message.startsWith(`${join(root, "shared/base.yaml")}:3: packges: unknown field; did you mean packages?`));
  });

  it("fails for a Podfile projects.yaml names that does not exist", async () => {
    const root = chainRepo({ "infra/config/projects.yaml": "version: 1\nprojects:\n  - name: web\n    podfile: podfiles/webapp.yaml\n" });
    await assert.rejects(() => writeProjectsBundle(source(root), join(scratch, "out-missing")), (err: unknown) => err instanceof InputError && err.message === `${join(root, "podfiles/webapp.yaml")}: does not exist (allowed: a Podfile (YAML))`);
  });

  it("fails for an extends that leads outside the podfiles root, by path or by symlink", async () => {
    const outside = join(scratch, "outside.yaml");
    writeFileSync(outside, BASE);
    const byPath = chainRepo({ "shared/mid.yaml": `name: mid\nextends: ${outside}\n` });
    await assert.rejects(() => writeProjectsBundle(source(byPath), join(scratch, "out-escape")), (err: unknown) => err instanceof InputError && err.message === `${outside}: leads outside the repository (allowed: a file inside the repository (no symlinks out of it))`);
    const byLink = chainRepo();
    rmSync(join(byLink, "shared/base.yaml"));
    symlinkSync(outside, join(byLink, "shared/base.yaml"));
    await assert.rejects(() => writeProjectsBundle(source(byLink), join(scratch, "out-link")), /shared\/base\.yaml: leads outside the repository/);
  });

  it("fails for a bad projects.yaml with its file and line", async () => {
    const root = chainRepo({ "infra/config/projects.yaml": "version: 1\nprojects:\n  - name: web\n    podfle: podfiles/web.yaml\n" });
    await assert.rejects(() => writeProjectsBundle(source(root), join(scratch, "out-yaml")), (err: unknown) => err instanceof InputError && err.field === `${join(root, "infra/config/projects.yaml")}:4: projects[0].podfle`);
  });

  it("checks the packed bytes as a node reads them: a bundle missing a file the chain reaches is refused", async () => {
    const files = await collectProjectsFiles(source(chainRepo()));
    await checkProjectsBundle(await packProjectsBundle(files));
    files.delete("shared/base.yaml");
    await assert.rejects(async () => checkProjectsBundle(await packProjectsBundle(files)), /shared\/base\.yaml: does not exist \(allowed: a Podfile inside the repository\)/);
  });

  it("refuses a bundle over the size a node accepts", async () => {
    const files = await collectProjectsFiles(source(chainRepo()));
    files.set("podfiles/huge.yaml", Buffer.alloc(9 * 1024 * 1024, 0x20));
    await assert.rejects(async () => checkProjectsBundle(await packProjectsBundle(files)), /the archive's files hold more than 8388608 bytes/);
  });
});

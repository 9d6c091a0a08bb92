import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import fc from "fast-check";
import { parse as parseYaml } from "yaml";
import { nodeResourceCaps, parsePodfile, planEnvironment, podfileJsonSchema, resolvePodfile } from "../../agent/src/core/podfile/index.js";
import { BUNDLED_BASE_IMAGE, fsLoader, jsonSchemaAccepts, NODE, REPO_ROOT } from "./helpers/podfile.js";

const PODFILES = join(REPO_ROOT, "podfiles");
const SCHEMA_FILE = join(PODFILES, "podfile.schema.json");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : []));
}

describe("podfiles/", () => {
  const files = yamlFiles(PODFILES);

  it("holds the examples: minimal, node, python, postgres", () => {
    const names = files.map((f) => relative(PODFILES, f));
    for (const want of ["minimal.yaml", "node.yaml", "python.yaml", "postgres.yaml"]) assert.ok(names.includes(want), want);
  });

  for (const file of files) {
    it(`${relative(REPO_ROOT, file)} resolves and plans on a default node, from local images and Debian packages only`, async () => {
      const { podfile } = await resolvePodfile(readFileSync(file, "utf8"), file, { load: fsLoader(REPO_ROOT), bundledBaseImage: BUNDLED_BASE_IMAGE, caps: nodeResourceCaps(NODE) });
      assert.match(podfile.base, /^podspawn\//);
      assert.deepEqual(podfile.packages.filter((p) => p.includes("@")), [], "versioned packages need the internet");
      for (const s of podfile.services) assert.match(s.image, /^podspawn\//);
      const plan = planEnvironment(podfile, { instance: "podspawn", user: "alice", project: "example", nodeConfig: NODE, caps: nodeResourceCaps(NODE) });
      assert.ok(plan.specHash);
    });
  }

  it("postgres.yaml runs a postgres service the dev container reaches by name, with a readiness check", async () => {
    const file = join(PODFILES, "postgres.yaml");
    const { podfile } = await resolvePodfile(readFileSync(file, "utf8"), file, { load: fsLoader(REPO_ROOT), bundledBaseImage: BUNDLED_BASE_IMAGE });
    const pg = podfile.services.find((s) => s.name === "postgres");
    assert.deepEqual([pg?.image, pg?.ready?.port, pg?.volumes[0]?.target], ["podspawn/postgres:15-bookworm", 5432, "/var/lib/postgresql/data"]);
    assert.equal(podfile.env["PGHOST"], "postgres");
    assert.ok(podfile.packages.includes("postgresql-client"));
    assert.match(readFileSync(join(PODFILES, "services", "postgres", "Dockerfile"), "utf8"), /^USER postgres$/m);
  });

  it("has a JSON Schema file that is exactly the one generated from the zod schema (UPDATE_GOLDEN=1 rewrites it)", () => {
    const generated = JSON.stringify(podfileJsonSchema(), null, 2) + "\n";
    if (process.env["UPDATE_GOLDEN"] === "1") writeFileSync(SCHEMA_FILE, generated);
    assert.equal(readFileSync(SCHEMA_FILE, "utf8"), generated);
  });

  it("the JSON Schema accepts every example", () => {
    const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as Record<string, unknown>;
    for (const file of files) assert.ok(jsonSchemaAccepts(schema, parseYaml(readFileSync(file, "utf8"))), file);
  });

  // The JSON Schema cannot say everything (cross-field rules, version tables, caps), so it may
  // accept more than the validator, never less: nothing valid is flagged in an editor.
  it("agrees with the validator: the JSON Schema accepts every Podfile the validator accepts", () => {
    const schema = podfileJsonSchema();
    const value = fc.oneof(
      fc.constant(null),
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom("git", "podspawn/default:bookworm", "/bin/bash", "src", "minimal", "./base.yaml", "!git", "nodejs@22", "grace-period", "copy", "main", "1g", "30s", "https://x/r.git"),
      fc.constantFrom(["git", "curl"], ["!git"], { A: "b" }, { A: null }, [{ name: "db", image: "pg" }], [{ name: "db", image: "pg", ports: [5432], ready: { port: 5432 } }], [{ url: "https://x/r.git", path: "src" }], { expose: [3000] }, { cpus: 1, memory: "1g" }, ["echo"], { repo: "https://x/d.git" }),
    );
    const key = fc.constantFrom("base", "extends", "name", "packages", "packages!", "shell", "env", "env!", "services", "dotfiles", "repos", "ports", "resources", "on_create", "on_start", "extra_commands", "mode", "workspace", "mount", "branch", "other");
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom({ base: "podspawn/default:bookworm" }, { extends: "./base.yaml" }, { extends: "minimal", base: "x" }), fc.dictionary(key, value, { maxKeys: 4 }), (head, rest) => {
        const doc = { ...rest, ...head };
        let valid = true;
        try {
          parsePodfile(JSON.stringify(doc), "p.yaml");
        } catch {
          valid = false;
        }
        if (valid) {
          accepted++;
          assert.ok(jsonSchemaAccepts(schema, doc), JSON.stringify(doc));
        }
      }),
      { numRuns: 2000 },
    );
    assert.ok(accepted > 20, `only ${accepted} valid documents were generated`);
  });
});

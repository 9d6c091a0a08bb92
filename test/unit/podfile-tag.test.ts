import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { compileDockerfile, contentTag, planEnvironment, resolvePodfile, type EnvironmentPlan } from "../../agent/src/core/podfile/index.js";
import { canonicalJson } from "../../agent/src/core/podfile/canonical-json.js";
import { BUNDLED_BASE_IMAGE, CAPS, memoryLoader, NODE } from "./helpers/podfile.js";

type Doc = Record<string, unknown>;

async function planOf(text: string, file = "/p/podfile.yaml", others: Record<string, string> = {}): Promise<EnvironmentPlan> {
  const { podfile } = await resolvePodfile(text, file, { load: memoryLoader(others), bundledBaseImage: BUNDLED_BASE_IMAGE, caps: CAPS });
  return planEnvironment(podfile, { instance: "podspawn", user: "alice", project: "web", nodeConfig: NODE, caps: CAPS });
}

const tagOf = (plan: EnvironmentPlan): string => (plan.image.kind === "build" ? plan.image.tag : `existing:${plan.image.image}`);

/** The same data with every mapping's keys in a random order. */
function shuffled(value: unknown, rnd: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffled(v, rnd));
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value).map(([k, v]) => [k, shuffled(v, rnd)] as const);
  entries.sort(() => rnd() - 0.5);
  return Object.fromEntries(entries);
}

const PACKAGES = ["git", "curl", "jq", "vim", "make", "nodejs@22", "go@1.25", "rust@stable", "libfoo@1.2"];
const scalar = fc.string({ unit: fc.constantFrom("a", "b", " ", "$", '"', "'", "\\", ":", "#", "-", "é"), minLength: 1, maxLength: 12 });
const doc = fc.record(
  {
    base: fc.constantFrom("podspawn/default:bookworm", "debian:bookworm", "registry.example.com/team/dev:1"),
    // At least one package: these properties are about environments that build an image.
    packages: fc.uniqueArray(fc.constantFrom(...PACKAGES), { selector: (p) => p.split("@")[0], minLength: 1, maxLength: 5 }),
    env: fc.dictionary(fc.stringMatching(/^V_[A-Z0-9_]{1,6}$/), scalar, { maxKeys: 4 }),
    extra_commands: fc.array(scalar, { maxLength: 3 }),
    on_start: fc.array(scalar, { maxLength: 2 }),
    services: fc.uniqueArray(fc.record({ name: fc.constantFrom("db", "cache", "queue"), image: fc.constantFrom("pg:16", "redis:7"), ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 2 }) }, { noNullPrototype: true }), { selector: (s) => s.name, maxLength: 2 }),
    resources: fc.record({ cpus: fc.constantFrom(0.5, 1, 2), memory: fc.constantFrom("512m", "1g", "2g") }, { noNullPrototype: true }),
  },
  { noNullPrototype: true },
);

const STYLES = [{}, { collectionStyle: "flow" as const }, { defaultStringType: "QUOTE_DOUBLE" as const, defaultKeyType: "PLAIN" as const }, { indent: 4, indentSeq: false }];

describe("content tag and spec hash", () => {
  it("has the form podspawn/<project>:podfile-<12 hex>", async () => {
    const plan = await planOf("base: x\npackages: [git]\n");
    assert.match(tagOf(plan), /^podspawn\/web:podfile-[0-9a-f]{12}$/);
    assert.equal(contentTag("web", "FROM x\n"), "podspawn/web:podfile-5e50475e952e");
  });

  it("does not move with key order or YAML formatting, nor with where the file is (two nodes, one tag)", async () => {
    await fc.assert(
      fc.asyncProperty(doc, fc.integer({ min: 0, max: 2 ** 31 }), fc.constantFrom(...STYLES), async (d, seed, style) => {
        let s = seed;
        const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        const a = await planOf(stringify(d));
        const b = await planOf("# reformatted\n" + stringify(shuffled(d, rnd), style), "/srv/other-node/projects/web/podfile.yaml");
        assert.equal(tagOf(a), tagOf(b));
        assert.equal(a.specHash, b.specHash);
        assert.equal(canonicalJson(a), canonicalJson(b));
      }),
      { numRuns: 150 },
    );
  });

  it("is the same whether the Podfile is one file or split over an extends chain that merges to the same", async () => {
    const whole = await planOf("base: x\npackages: [git, jq]\nenv: {A: a}\nextra_commands: [echo 1, echo 2]\n");
    const split = await planOf("extends: ./base.yaml\npackages: [jq]\nextra_commands: [echo 2]\n", "/p/podfile.yaml", { "/p/base.yaml": "base: x\npackages: [git]\nenv: {A: a}\nextra_commands: [echo 1]\n" });
    assert.equal(tagOf(whole), tagOf(split));
    assert.equal(whole.specHash, split.specHash);
  });

  // What goes into the image moves the tag (and so the spec hash); what only the container or
  // its sessions see moves the spec hash alone: no rebuild for a hook edit.
  const same = (d: Doc): Doc => d;
  const withCommands = (...cmds: string[]) => (d: Doc): Doc => ({ ...d, extra_commands: [...(d["extra_commands"] as string[]), ...cmds] });
  const imageChanges: [string, (d: Doc) => Doc, (d: Doc) => Doc][] = [
    ["base", same, (d) => ({ ...d, base: `${String(d["base"])}-other` })],
    ["a package added", same, (d) => ({ ...d, packages: [...(d["packages"] as string[]), "htop"] })],
    ["a package version", same, (d) => ({ ...d, packages: [...(d["packages"] as string[]).filter((p) => !p.startsWith("nodejs")), "nodejs@20"] })],
    ["an env value", same, (d) => ({ ...d, env: { ...(d["env"] as object), V_CHANGED: "x" } })],
    ["an extra command", same, withCommands("echo more")],
    ["the order of extra commands", withCommands("echo first", "echo second"), withCommands("echo second", "echo first")],
    ["the shell of extra commands", withCommands("echo x"), (d) => ({ ...withCommands("echo x")(d), shell: "/bin/zsh" })],
  ];
  const runtimeChanges: [string, (d: Doc) => Doc][] = [
    ["on_start", (d) => ({ ...d, on_start: [...(d["on_start"] as string[]), "echo again"] })],
    ["on_create", (d) => ({ ...d, on_create: "echo created" })],
    ["a service", (d) => ({ ...d, services: [...(d["services"] as Doc[]).filter((s) => s["name"] !== "search"), { name: "search", image: "es:8" }] })],
    ["resources", (d) => ({ ...d, resources: { cpus: 3, memory: "3g" } })],
    ["mode", (d) => ({ ...d, mode: "persistent" })],
    ["a repo", (d) => ({ ...d, repos: [{ url: "https://x/app.git" }] })],
    ["dotfiles", (d) => ({ ...d, dotfiles: { repo: "https://x/dot.git" } })],
    ["workspace", (d) => ({ ...d, workspace: "src" })],
    ["ports", (d) => ({ ...d, ports: { expose: [9999] } })],
  ];

  for (const [what, from, to] of imageChanges) {
    it(`moves the tag and the spec hash when ${what} changes`, async () => {
      await fc.assert(
        fc.asyncProperty(doc, async (d) => {
          const before = await planOf(stringify(from(d)));
          const after = await planOf(stringify(to(d)));
          assert.notEqual(tagOf(after), tagOf(before));
          assert.notEqual(after.specHash, before.specHash);
        }),
        { numRuns: 40 },
      );
    });
  }

  for (const [what, change] of runtimeChanges) {
    it(`keeps the tag but moves the spec hash when ${what} changes`, async () => {
      await fc.assert(
        fc.asyncProperty(doc, async (d) => {
          const before = await planOf(stringify(d));
          const after = await planOf(stringify(change(d)));
          assert.equal(tagOf(after), tagOf(before));
          assert.notEqual(after.specHash, before.specHash);
        }),
        { numRuns: 40 },
      );
    });
  }

  it("moves the tag when the compiler's output changes, even for the same Podfile", async () => {
    const { podfile } = await resolvePodfile("base: x\npackages: [git]\n", "/p/podfile.yaml", { load: memoryLoader({}), bundledBaseImage: "x" });
    const dockerfile = compileDockerfile(podfile);
    assert.notEqual(contentTag("web", dockerfile), contentTag("web", dockerfile.replace("apt-get clean", "apt-get autoclean")));
  });
});

describe("canonical JSON", () => {
  it("writes equal data as equal text, whatever the key order", () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: null, y: "x" }], c: true } }), canonicalJson({ a: { c: true, d: [2, { y: "x", z: null }] }, b: 1 }));
    assert.equal(canonicalJson({ b: 1, a: 2, u: undefined }), '{"a":2,"b":1}');
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (o) => {
        const reversed = Object.fromEntries(Object.entries(o).reverse());
        assert.equal(canonicalJson(reversed), canonicalJson(o));
        assert.deepEqual(JSON.parse(canonicalJson(o)), JSON.parse(JSON.stringify(o)));
      }),
    );
  });

  it("refuses what is not JSON data", () => {
    assert.throws(() => canonicalJson(Number.NaN), TypeError);
    assert.throws(() => canonicalJson(() => 1), TypeError);
  });
});

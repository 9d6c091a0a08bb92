import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../agent/src/core/errors.js";
import { readYaml } from "../../agent/src/core/config/yaml-source.js";

function refuses(text: string, expected: string | RegExp, limits = {}): void {
  assert.throws(
    () => readYaml(text, "f.yaml", limits),
    (err: unknown) => {
      assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
      if (typeof expected === "string") assert.equal(err.message, expected);
      else assert.match(err.message, expected);
      return true;
    },
  );
}

/** The classic "billion laughs": 9 levels of 9 aliases each, 9^9 strings when expanded, 400 bytes of text. */
function billionLaughs(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const names = "abcdefghi";
  for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array<string>(9).fill(`*${names[i - 1]}`).join(",")}]`);
  return lines.join("\n") + "\n";
}

describe("readYaml", () => {
  it("reads plain values and remembers the line of every path", () => {
    const src = readYaml("version: 1\nusers:\n  - name: a\n    keys:\n      - x\n  - name: b\n", "u.yaml");
    assert.deepEqual(src.value, { version: 1, users: [{ name: "a", keys: ["x"] }, { name: "b" }] });
    assert.equal(src.lineOf(["users", 0, "keys", 0]), 5);
    assert.equal(src.lineOf(["users", 0, "keys"]), 4);
    assert.equal(src.lineOf(["users", 1, "name"]), 6);
    // A path that is not in the text: its nearest ancestor that is.
    assert.equal(src.lineOf(["users", 1, "keys"]), 6);
    assert.equal(src.lineOf(["users", 7]), 2);
    assert.equal(src.lineOf([]), 1);
  });

  it("reads an empty or comment-only file as null", () => {
    assert.equal(readYaml("", "f.yaml").value, null);
    assert.equal(readYaml("# nothing\n", "f.yaml").value, null);
  });

  it("reports syntax errors with the file and line", () => {
    refuses("a: 1\nb: [\n", /^f\.yaml:\d+: not valid YAML: /);
    refuses("a: 1\nb: \"x\" y\nc: 3\n", /^f\.yaml:2: not valid YAML: /);
    refuses("a: *nowhere\n", "f.yaml:1: a: alias *nowhere has no anchor before it");
  });

  describe("refusals that protect the reader", () => {
    it("refuses a YAML bomb by what its aliases would expand to, before expanding them", () => {
      refuses(billionLaughs(), "f.yaml: its aliases expand to 490328964 more nodes (a YAML bomb?) (allowed: aliases adding at most 10000 nodes)");
    });

    it("allows aliases that add a bounded number of nodes", () => {
      const src = readYaml("base: &b {cpus: 2, memory: 2g}\na: *b\nb: *b\n", "f.yaml");
      assert.deepEqual(src.value, { base: { cpus: 2, memory: "2g" }, a: { cpus: 2, memory: "2g" }, b: { cpus: 2, memory: "2g" } });
      refuses("x: &x [1, 2, 3]\ny: [*x, *x, *x]\n", /aliases expand to 9 more nodes/, { maxAliasedNodes: 8 });
    });

    it("refuses more aliases than the cap, naming the first one over it", () => {
      const list = (n: number): string => `a: &a 1\nb: [${Array<string>(n).fill("*a").join(", ")}]\n`;
      assert.equal((readYaml(list(100), "f.yaml").value as { b: unknown[] }).b.length, 100);
      refuses(list(101), "f.yaml:2: b[100]: more than 100 aliases (allowed: at most 100 '*name' aliases)");
    });

    it("refuses an alias inside the node it names (a cycle the schema would walk forever)", () => {
      refuses("a: &a [*a]\n", /^f\.yaml:1: a\[0\](\[0\])?: alias \*a refers to a node that contains it$/);
    });

    it("refuses nesting deeper than the cap in flow, compact and block style, and through aliases", () => {
      const flow = (n: number): string => `a: ${"[".repeat(n)}${"]".repeat(n)}\n`;
      assert.ok(readYaml(flow(64), "f.yaml"));
      refuses(flow(65), "f.yaml:1: nested deeper than 64 levels");
      // Past the composer's stack (and, near 10 000 levels, past what Node survives).
      refuses(flow(200_000), "f.yaml:1: nested deeper than 64 levels");
      refuses(`${"- ".repeat(100_000)}x\n`, "f.yaml:1: nested deeper than 64 levels");
      refuses(Array.from({ length: 80 }, (_, i) => `${" ".repeat(i)}k:`).join("\n") + "\n", /^f\.yaml:\d+: nested deeper than 64 levels$/);
      const chain = ["a0: &a0 [[[[[[[[[[x]]]]]]]]]]"];
      for (let i = 1; i < 8; i++) chain.push(`a${i}: &a${i} [[[[[[[[[[*a${i - 1}]]]]]]]]]]`);
      refuses(chain.join("\n") + "\n", /nested deeper than 64 levels/);
    });

    it("refuses a text over the size cap without parsing it, counting UTF-8 bytes", () => {
      refuses(`a: ${"x".repeat(100)}\n`, "f.yaml: is more than 64 bytes (allowed: at most 64 bytes)", { maxBytes: 64 });
      // 40 characters, 80 bytes.
      refuses(`a: ${"é".repeat(40)}`, /more than 64 bytes/, { maxBytes: 64 });
      assert.ok(readYaml(`a: ${"x".repeat(59)}\n`, "f.yaml", { maxBytes: 64 }));
    });
  });

  describe("refusals of ambiguous documents", () => {
    it("refuses a duplicate key at its line, naming the first", () => {
      refuses("a: 1\nb: 2\na: 3\n", "f.yaml:3: a: duplicate key, already set on line 1 (allowed: each key once per mapping)");
      refuses("s:\n  m: 1\n  'm': 2\n", "f.yaml:3: s.m: duplicate key, already set on line 2 (allowed: each key once per mapping)");
      refuses("x: {k: 1, k: 2}\n", /^f\.yaml:1: x\.k: duplicate key/);
    });

    it("refuses keys that are not strings, numbers or booleans", () => {
      refuses("? [a, b]\n: 1\n", "f.yaml:1: (top level): has a key that is not a string (allowed: keys that are plain words)");
      refuses("x:\n  : 1\n", /^f\.yaml:2: x: has a key that is not a string/);
    });

    it("refuses a __proto__ key, and nothing it says reaches Object.prototype", () => {
      refuses("__proto__: {polluted: true}\n", "f.yaml:1: __proto__: is not allowed as a key (it would rewrite the object's prototype)");
      refuses("a:\n  - b: 1\n    __proto__: {polluted: true}\n", /^f\.yaml:3: a\[0\]\.__proto__: is not allowed/);
      assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
    });

    it("refuses a second document, tags beyond plain YAML, and YAML 1.1 extras", () => {
      refuses("a: 1\n---\nb: 2\n", "f.yaml:2: holds more than one YAML document (allowed: one document (no second '---'))");
      refuses("a: !secret x\n", /^f\.yaml:1: not valid YAML: Unresolved tag: !secret/);
      refuses("a: !!binary aGk=\n", /^f\.yaml:1: not valid YAML: Unresolved tag/);
      // The merge key is plain data in YAML 1.2: it does not merge.
      assert.deepEqual(readYaml("a: &a {x: 1}\nb:\n  <<: *a\n", "f.yaml").value, { a: { x: 1 }, b: { "<<": { x: 1 } } });
    });
  });
});

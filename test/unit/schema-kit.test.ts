import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import { InputError } from "../../agent/src/core/errors.js";
import { formatPath } from "../../agent/src/core/config/field-path.js";
import { editDistance, nearestName } from "../../agent/src/core/config/nearest-name.js";
import { defaulted, hint, jsonSchemaOf, parseYamlWith, refuse, section, validate, via } from "../../agent/src/core/config/schema-kit.js";
import { byteSize, duration, port } from "../../agent/src/core/config/unit-schemas.js";
import { validateUsername } from "../../agent/src/core/users/username.js";

function says(expected: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.equal(err.message, expected);
    return true;
  };
}

/** A Podfile-like schema: what the next format will ask of the kit. */
const PODFILE = z.strictObject({
  base: hint(z.string().regex(/^[a-z0-9./:-]+$/), { what: "an image reference", allowed: "e.g. debian:bookworm" }),
  packages: hint(z.array(z.string().min(1)), { allowed: "a list of package names" }).default([]),
  resources: section({ memory: defaulted(byteSize(), "1g"), timeout: defaulted(duration(), "30s") }),
  services: z
    .record(
      z.string(),
      z.strictObject({ image: z.string(), port: port().optional(), user: z.string().transform(via((u: string) => validateUsername(u, "user"))).optional() }),
    )
    .default({}),
});

describe("schema kit", () => {
  describe("types and defaults come from the schema", () => {
    it("fills defaults, including the ones of a section left out or left empty", () => {
      const want = { base: "debian:bookworm", packages: [], resources: { memory: 1024 ** 3, timeout: 30_000 }, services: {} };
      assert.deepEqual(validate(PODFILE, { base: "debian:bookworm" }), want);
      assert.deepEqual(validate(PODFILE, { base: "debian:bookworm", resources: null }), want);
      assert.deepEqual(validate(PODFILE, { base: "debian:bookworm", resources: { memory: null } }), want);
    });
  });

  describe("errors name the path, what was wrong and what is allowed", () => {
    it("words each kind of problem", () => {
      const base = { base: "debian:bookworm" };
      assert.throws(() => validate(PODFILE, {}), says("base: is required (allowed: e.g. debian:bookworm)"));
      assert.throws(() => validate(PODFILE, { base: 42 }), says("base: expected an image reference, got number 42 (allowed: e.g. debian:bookworm)"));
      assert.throws(() => validate(PODFILE, { base: "Debian" }), says('base: "Debian" is not an image reference (allowed: e.g. debian:bookworm)'));
      assert.throws(() => validate(PODFILE, { ...base, packages: "git" }), says('packages: expected a list, got "git" (allowed: a list of package names)'));
      assert.throws(() => validate(PODFILE, { ...base, packages: ["git", ""] }), says("packages[1]: is empty"));
      assert.throws(() => validate(PODFILE, { ...base, resources: { timeout: "soon" } }), says('resources.timeout: "soon" is not a duration (allowed: 0, 250ms, 30s, 5m, 8h, 1d; a bare number is seconds)'));
      assert.throws(() => validate(PODFILE, { ...base, services: { db: { image: "pg", port: 70000 } } }), says("services.db.port: number 70000 is not a port (allowed: 1-65535)"));
      assert.throws(() => validate(PODFILE, { ...base, services: { "my db": { image: 1 } } }), says('services["my db"].image: expected a string, got number 1'));
      assert.throws(() => validate(PODFILE, "base: x"), says('(top level): expected a mapping, got "base: x"'));
    });

    it("carries the wording of our own validators through via()", () => {
      assert.throws(() => validate(PODFILE, { base: "x", services: { db: { image: "pg", user: "root" } } }), says('services.db.user: "root" is reserved for the system (allowed: any name not used by the host or podspawn itself)'));
    });

    it("refuses an unknown key with the nearest known one, and without a guess when none is near", () => {
      assert.throws(() => validate(PODFILE, { base: "x", packges: [] }), says("packges: unknown field; did you mean packages? (allowed: base, packages, resources, services)"));
      assert.throws(() => validate(PODFILE, { base: "x", resources: { memroy: "1g" } }), says("resources.memroy: unknown field; did you mean memory? (allowed: memory, timeout)"));
      assert.throws(() => validate(PODFILE, { base: "x", hooks: [] }), says("hooks: unknown field (allowed: base, packages, resources, services)"));
    });

    it("lets a refinement point at a path below it with refuse()", () => {
      const pair = z.strictObject({ a: z.int(), b: z.int() }).superRefine((v, ctx) => {
        if (v.b <= v.a) refuse(ctx, `${v.b} is not above a (${v.a})`, { allowed: "b > a", path: ["b"] });
      });
      assert.throws(() => validate(pair, { a: 2, b: 1 }), says("b: 1 is not above a (2) (allowed: b > a)"));
    });

    it("follows the union branch that got furthest when no branch has a hint", () => {
      const net = z.union([z.strictObject({ kind: z.literal("create"), cidr: z.string() }), z.strictObject({ kind: z.literal("existing"), vpcId: z.string().min(1) })]);
      assert.throws(() => validate(net, { kind: "existing", vpcId: "" }), says("vpcId: is empty"));
    });
  });

  describe("YAML text", () => {
    const text = ["base: debian:bookworm", "packages:", "  - git", "resources:", "  memory: 1g", "  timeout: forever", "services:", "  db:", "    image: pg", "    prot: 5432", ""].join("\n");

    it("puts file and line in front, reporting the first problem in the file", () => {
      assert.throws(() => parseYamlWith(PODFILE, text, "podfile.yaml"), says('podfile.yaml:6: resources.timeout: "forever" is not a duration (allowed: 0, 250ms, 30s, 5m, 8h, 1d; a bare number is seconds)'));
      assert.throws(() => parseYamlWith(PODFILE, text.replace("forever", "5m"), "podfile.yaml"), says("podfile.yaml:10: services.db.prot: unknown field; did you mean port? (allowed: image, port, user)"));
    });

    it("names the line of the enclosing mapping for a missing key, and the file alone for an empty file", () => {
      assert.throws(() => parseYamlWith(PODFILE, "", "empty.yaml"), says('empty.yaml: (top level): expected a mapping, got null'));
      assert.throws(() => parseYamlWith(PODFILE, "packages: []\n", "p.yaml"), says("p.yaml:1: base: is required (allowed: e.g. debian:bookworm)"));
    });
  });

  describe("JSON Schema", () => {
    it("describes what a user may write: the input side, defaults and all, with our head", () => {
      const schema = jsonSchemaOf(PODFILE, { $id: "https://example.test/podfile.json", title: "t", description: "d" });
      assert.deepEqual(Object.keys(schema).slice(0, 4), ["$schema", "$id", "title", "description"]);
      assert.equal(schema["additionalProperties"], false);
      assert.deepEqual(schema["required"], ["base"]);
      const props = schema["properties"] as Record<string, Record<string, unknown>>;
      assert.equal(props["base"]?.["pattern"], "^[a-z0-9./:-]+$");
      assert.deepEqual(props["packages"]?.["default"], []);
    });
  });
});

describe("nearestName", () => {
  it("finds the closest name within a typo's distance", () => {
    assert.equal(nearestName("packges", ["image", "packages", "services"]), "packages");
    assert.equal(nearestName("imgae", ["image", "packages"]), "image");
    assert.equal(nearestName("Image", ["image"]), "image");
    assert.equal(nearestName("mode", ["mode", "model"]), "mode");
    assert.equal(nearestName("hooks", ["image", "packages"]), undefined);
    assert.equal(nearestName("x", []), undefined);
  });

  it("counts a swap of neighbours as one edit, and stops at the cap", () => {
    assert.equal(editDistance("ab", "ba"), 1);
    assert.equal(editDistance("kitten", "sitting"), 3);
    assert.equal(editDistance("", "abc"), 3);
    assert.equal(editDistance("abcdef", "uvwxyz", 2), 2);
  });
});

describe("formatPath", () => {
  it("writes keys with dots, indexes in brackets, odd keys quoted", () => {
    assert.equal(formatPath([]), "(top level)");
    assert.equal(formatPath(["users", 1, "keys", 0]), "users[1].keys[0]");
    assert.equal(formatPath(["env", "A.B", "x y", "ok_1"]), 'env["A.B"]["x y"].ok_1');
    assert.equal(formatPath(["packages!", 0, "a!b", "!c"]), 'packages![0]["a!b"]["!c"]');
  });
});

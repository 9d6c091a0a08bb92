import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { fleetManifestJsonSchema, formatFleetManifest, validateFleetManifest } from "../../agent/src/core/fleet/fleet-manifest.js";
import { InputError } from "../../agent/src/core/errors.js";
import { SAMPLE_HOST_KEY } from "./fixtures.js";
import { jsonSchemaAccepts } from "./json-schema-subset.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const SCHEMA_FILE = join(root, "docs", "schemas", "fleet-manifest.schema.json");

const good = () => ({
  version: 1,
  fleet: "acme",
  domain: "pod",
  generatedAt: "2025-01-02T03:04:05Z",
  nodes: [{ name: "node-1", address: "node-1.fleet.acme.test", port: 22, hostKeys: [SAMPLE_HOST_KEY] }],
});

function rejects(value: unknown, field: RegExp): void {
  assert.throws(() => validateFleetManifest(value), (err: unknown) => err instanceof InputError && field.test(err.field));
}

describe("fleet manifest", () => {
  it("accepts a well-formed manifest and returns it unchanged", () => {
    assert.deepEqual(validateFleetManifest(good()), good());
  });

  it("names the JSON path of the first bad field", () => {
    rejects({ ...good(), version: 2 }, /^version$/);
    rejects({ ...good(), extra: 1 }, /^extra$/);
    rejects({ ...good(), nodes: [] }, /^nodes$/);
    rejects({ ...good(), nodes: [{ ...good().nodes[0], port: 0 }] }, /^nodes\[0\]\.port$/);
    rejects({ ...good(), nodes: [{ ...good().nodes[0], address: "evil host" }] }, /^nodes\[0\]\.address$/);
    rejects({ ...good(), nodes: [{ ...good().nodes[0], hostKeys: ["ssh-ed25519 AAAA"] }] }, /^nodes\[0\]\.hostKeys\[0\]$/);
    rejects({ ...good(), nodes: [good().nodes[0], good().nodes[0]] }, /^nodes\[1\]\.name$/);
  });

  it("refuses a host key with options or a comment, which the client could not pin", () => {
    rejects({ ...good(), nodes: [{ ...good().nodes[0], hostKeys: [`${SAMPLE_HOST_KEY} root@host`] }] }, /hostKeys\[0\]/);
  });

  it("round-trips any valid manifest through its canonical text", () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    const node = fc.record({ name: label, address: fc.oneof(fc.ipV4(), label.map((l) => `${l}.example.com`)), port: fc.integer({ min: 1, max: 65535 }), hostKeys: fc.constant([SAMPLE_HOST_KEY]) }, { noNullPrototype: true });
    const manifest = fc.record({
      version: fc.constant(1 as const),
      fleet: label,
      domain: label,
      nodes: fc.uniqueArray(node, { minLength: 1, maxLength: 5, selector: (n) => n.name }),
    }, { noNullPrototype: true });
    fc.assert(fc.property(manifest, (m) => {
      assert.deepEqual(validateFleetManifest(JSON.parse(formatFleetManifest(m))), m);
    }));
  });

  it("has a JSON Schema file that is exactly the one generated from the zod schema (UPDATE_GOLDEN=1 rewrites it)", () => {
    const schema = fleetManifestJsonSchema();
    const generated = JSON.stringify(schema, null, 2) + "\n";
    if (process.env["UPDATE_GOLDEN"] === "1") writeFileSync(SCHEMA_FILE, generated);
    assert.equal(readFileSync(SCHEMA_FILE, "utf8"), generated);
    assert.equal(schema["$id"], "https://podspawn.dev/schemas/fleet-manifest.schema.json");
    assert.deepEqual(schema["required"], ["version", "fleet", "domain", "nodes"]);
  });

  // The JSON Schema cannot say everything (a host key blob must parse, node names are unique),
  // so it may accept more than the validator, never less: nothing valid is flagged in an editor.
  it("agrees with the validator: the JSON Schema accepts every manifest the validator accepts", () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    const anyJson = fc.oneof(fc.constant(undefined), fc.jsonValue(), fc.string(), fc.integer({ min: -1, max: 70_000 }), label, fc.constant("a b"), fc.constant([SAMPLE_HOST_KEY]));
    const schema = fleetManifestJsonSchema();
    const outcomes = new Set<string>();
    const field = fc.constantFrom("version", "fleet", "domain", "generatedAt", "nodes", "extra", "name", "address", "port", "hostKeys");
    fc.assert(
      fc.property(field, anyJson, fc.boolean(), (key, value, inNode) => {
        const m = good() as Record<string, unknown>;
        const target = inNode ? ((m["nodes"] as Record<string, unknown>[])[0] as Record<string, unknown>) : m;
        if (value === undefined) delete target[key];
        else target[key] = value;
        let valid = true;
        try {
          validateFleetManifest(m);
        } catch (err) {
          assert.ok(err instanceof InputError, String(err));
          valid = false;
        }
        const schemaSays = jsonSchemaAccepts(schema, m);
        if (valid) assert.ok(schemaSays, `the validator accepts what the JSON Schema refuses: ${JSON.stringify(m)}`);
        outcomes.add(`${valid}/${schemaSays}`);
      }),
      { numRuns: 500 },
    );
    // Both kinds of verdict were reached, so the property was not vacuous.
    assert.ok(outcomes.has("true/true") && outcomes.has("false/false"), [...outcomes].join(" "));
    for (const bad of ["a b", "a@b", "-x.example.com"]) rejects({ ...good(), nodes: [{ ...good().nodes[0], address: bad }] }, /address/);
    for (const field of ["version", "fleet", "domain", "nodes"]) {
      const m: Record<string, unknown> = good();
      delete m[field];
      rejects(m, new RegExp(`^${field}$`));
    }
  });
});

/**
 * Property tests for the admin's files: config.yaml (the node config), projects.yaml, and the YAML
 * reader under every config file (users.yaml's are in users-properties.test.ts).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { parseMetricsListen, parseNodeConfigYaml } from "../../agent/src/core/config/node-config.js";
import { parseProjectsConfig } from "../../agent/src/core/config/projects-config.js";
import { readYaml } from "../../agent/src/core/config/yaml-source.js";
import { onlyInputError, RUNS } from "./helpers/input-errors.js";

const FILE = "/etc/podspawn/config.yaml";

describe("config.yaml (property)", () => {
  const settings = fc.record({
    cpus: fc.integer({ min: 1, max: 16 }),
    memoryMiB: fc.integer({ min: 64, max: 65536 }),
    pids: fc.integer({ min: 64, max: 4096 }),
    mode: fc.constantFrom("grace-period", "destroy-on-disconnect", "persistent"),
    graceSeconds: fc.integer({ min: 1, max: 3600 }),
    runtime: fc.constantFrom("runc", "runsc"),
    poolSize: fc.integer({ min: 0, max: 64 }),
  });

  it("any config of valid settings reads back as those settings", () => {
    fc.assert(
      fc.property(settings, (s) => {
        const text = stringify({ session: { mode: s.mode, grace_period: `${s.graceSeconds}s` }, resources: { cpus: s.cpus, memory: `${s.memoryMiB}m`, pids: s.pids }, oci_runtime: s.runtime, pool: { size: s.poolSize } });
        const c = parseNodeConfigYaml(text, FILE);
        assert.deepEqual(
          [c.session.mode, c.session.gracePeriodMs, c.resources.cpus, c.resources.memoryBytes, c.resources.pids, c.ociRuntime, c.pool.size],
          [s.mode, s.graceSeconds * 1000, s.cpus, s.memoryMiB * 1024 * 1024, s.pids, s.runtime, s.poolSize],
        );
      }),
      RUNS,
    );
  });

  it("never throws anything but an InputError naming the file, for any document", () => {
    const sections = ["image", "session", "resources", "limits", "network", "engine", "network_linger", "build_timeout", "pool", "oci_runtime", "runtime", "sftp_subsystems", "metrics_listen", "unknown"];
    const inner = fc.dictionary(fc.constantFrom("mode", "grace_period", "cpus", "memory", "pids", "size", "pool", "subnet_size", "timeout", "accept_runc_advisories", "x"), fc.oneof(fc.anything({ maxDepth: 1 }), fc.constantFrom("10s", "2g", "198.18.0.0/15", "-1", "1e309", "0x10")), { maxKeys: 3 });
    const doc = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.anything({ maxDepth: 3 }).map((v) => String(stringify(v) ?? "")),
      fc.dictionary(fc.constantFrom(...sections), fc.oneof(inner, fc.anything({ maxDepth: 1 })), { maxKeys: 4 }).map((d) => String(stringify(d) ?? "")),
    );
    fc.assert(
      fc.property(doc, (text) => {
        const err = onlyInputError(() => parseNodeConfigYaml(text, FILE));
        if (err) assert.ok(err.field.startsWith(FILE), err.message);
      }),
      RUNS,
    );
  });

  it("metrics_listen takes loopback addresses and socket paths only; anything else is an InputError naming the field", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.constantFrom("127.0.0.1", "[::1]"), (port, host) => {
        assert.deepEqual(parseMetricsListen(`${host}:${port}`, "metrics_listen"), { host: host === "[::1]" ? "::1" : host, port });
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 30 }), fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`)), (v) => {
        let got: unknown = null;
        const err = onlyInputError(() => (got = parseMetricsListen(v, "metrics_listen")));
        if (err) assert.equal(err.field, "metrics_listen");
        else assert.ok(v.startsWith("/") || /^(127\.0\.0\.1|\[::1\]):\d+$/.test(v), `${v} -> ${JSON.stringify(got)}`);
      }),
      RUNS,
    );
  });
});

describe("projects.yaml and the YAML reader (property)", () => {
  const project = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
  const path = fc.array(fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,8}$/).filter((s) => s !== ".."), { minLength: 1, maxLength: 3 }).map((p) => p.join("/"));

  it("any list of distinct projects with repository paths reads back as written", () => {
    const entry = fc.record({ name: project, podfile: fc.option(path, { nil: undefined }) }).map((e) => (e.podfile === undefined ? { name: e.name } : e));
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.name, maxLength: 5 }), (projects) => {
        const parsed = parseProjectsConfig(stringify({ version: 1, projects }), "projects.yaml");
        assert.deepEqual(JSON.parse(JSON.stringify(parsed.projects)), JSON.parse(JSON.stringify(projects)));
      }),
      RUNS,
    );
  });

  it("never throws anything but an InputError naming the file; a podfile path out of the repository is refused", () => {
    const doc = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.anything({ maxDepth: 3 }).map((v) => String(stringify(v) ?? "")),
      fc.record({ version: fc.oneof(fc.constant(1), fc.anything()), projects: fc.array(fc.record({ name: fc.oneof(project, fc.anything()), podfile: fc.oneof(path, fc.constantFrom("/etc/passwd", "../x", "a/../../b", "a\\b", "a\0b"), fc.anything()) }, { requiredKeys: [] }), { maxLength: 3 }) }, { requiredKeys: [] }).map((v) => String(stringify(v) ?? "")),
    );
    fc.assert(
      fc.property(doc, (text) => {
        const err = onlyInputError(() => parseProjectsConfig(text, "projects.yaml"));
        if (err) assert.ok(err.field.startsWith("projects.yaml"), err.message);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(project, fc.constantFrom("/etc/passwd", "../x", "a/../../b", "a\\b", "a\0b", ""), (name, podfile) => {
        const err = onlyInputError(() => parseProjectsConfig(stringify({ version: 1, projects: [{ name, podfile }] }), "projects.yaml"));
        assert.ok(err && /projects\[0\]\.podfile/.test(err.message), err?.message ?? "accepted");
      }),
      RUNS,
    );
  });

  it("readYaml never throws anything but an InputError naming the file, for any text; refuses broken YAML at its line; reads back any plain document", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 100 }), fc.constantFrom("a: &x [*x]", "a: *nope", "? [a]\n: b", "%YAML 9.9\n---\na: 1", "a: 1\na: 2", "---\n---\n")), (text) => {
        const err = onlyInputError(() => readYaml(text, "f.yaml"));
        if (err) assert.ok(err.field.startsWith("f.yaml"), err.message);
      }),
      RUNS,
    );
    // Broken YAML anywhere in an otherwise fine document: refused at its line, never half-read.
    const broken = fc.constantFrom('a: "unterminated', "a: [1, 2", "{a: 1", "a:\n  - b\n c: d", "a: b: c", "- a\nb: c", "a: 'x'y'");
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z]{1,6}: [a-z0-9]{1,6}$/), { maxLength: 4 }), broken, fc.nat(), (lines, bad, at) => {
        const all = [...lines];
        all.splice(at % (lines.length + 1), 0, bad);
        const err = onlyInputError(() => readYaml(all.join("\n") + "\n", "f.yaml"));
        assert.ok(err !== null && /^f\.yaml:\d+$/.test(err.field), err?.message ?? `accepted ${JSON.stringify(all)}`);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z][a-z_]{0,8}$/), fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 })), { maxKeys: 5 }), (doc) => {
        assert.deepEqual(JSON.parse(JSON.stringify(readYaml(stringify(doc), "f.yaml").value)), JSON.parse(JSON.stringify(doc)));
      }),
      RUNS,
    );
  });
});

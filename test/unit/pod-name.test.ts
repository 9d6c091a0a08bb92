import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InputError } from "../../agent/src/core/errors.js";
import { parsePodName, podHostNames } from "../../agent/src/core/fleet/pod-name.js";
import { PROJECT_PATTERN } from "../../agent/src/core/container/project.js";

const FLEET = { domain: "pod", fleet: "dev" };

describe("parsePodName", () => {
  it("reads the project from <project>.pod", () => {
    assert.deepEqual(parsePodName("work.pod", FLEET), { host: "work.pod", project: "work", qualified: false });
  });

  it("lowercases: DNS names are case-insensitive (WORK.POD is work.pod)", () => {
    assert.deepEqual(parsePodName("WORK.POD", FLEET), { host: "work.pod", project: "work", qualified: false });
  });

  it("accepts <project>.<fleet>.pod when the fleet is the manifest's", () => {
    assert.deepEqual(parsePodName("work.dev.pod", FLEET), { host: "work.dev.pod", project: "work", qualified: true });
  });

  it("uses the manifest's domain, including a multi-label one", () => {
    const d = { domain: "pods.example.com", fleet: "prod" };
    assert.equal(parsePodName("api.pods.example.com", d).project, "api");
    assert.equal(parsePodName("api.prod.pods.example.com", d).project, "api");
    assert.throws(() => parsePodName("api.pod", d), /not a \.pods\.example\.com name/);
  });

  const refused: [string, string, RegExp][] = [
    ["another domain (work.other)", "work.other", /"work.other" is not a \.pod name/],
    ["shell metacharacters (a;b.pod)", "a;b.pod", /contains characters a host name cannot have/],
    ["a leading dash (-x.pod)", "-x.pod", /"-x" is not a valid project name/],
    ["an empty label (..pod)", "..pod", /empty label/],
    ["the bare domain (pod)", "pod", /is not a \.pod name/],
    ["just the suffix (.pod)", ".pod", /is not a \.pod name/],
    ["another fleet (work.prod.pod)", "work.prod.pod", /names fleet "prod", but the manifest is for fleet "dev"/],
    ["too many labels", "a.dev.x.pod", /too many labels/],
    ["a project longer than 40 characters", `${"a".repeat(41)}.pod`, /is not a valid project name/],
    ["a name longer than 253 characters", `${"a".repeat(250)}.pod`, /254 characters long/],
    ["an underscore", "my_proj.pod", /contains characters/],
    ["spaces and newlines", "work.pod\nHost *", /contains characters/],
    ["unicode", "wörk.pod", /contains characters/],
    ["the empty string", "", /must not be empty/],
    ["a trailing dot", "work.pod.", /is not a \.pod name/],
  ];
  for (const [what, host, problem] of refused) {
    it(`refuses ${what}, naming the host and what is allowed`, () => {
      assert.throws(
        () => parsePodName(host, FLEET),
        (e: unknown) => e instanceof InputError && e.field === "HOST" && problem.test(e.message) && /allowed: <project>\.pod or <project>\.dev\.pod/.test(e.message),
      );
    });
  }

  it("never puts a raw control character into its message", () => {
    assert.throws(() => parsePodName("a\u001b[31m.pod", FLEET), (e: unknown) => e instanceof Error && !e.message.includes("\u001b") && e.message.includes("\\u001b"));
  });

  it("refuses non-strings", () => {
    assert.throws(() => parsePodName(42, FLEET), /expected a string, got number/);
  });

  it("accepts exactly the valid project names, in both forms (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."abcz09-._;A"), maxLength: 45 }), (label) => {
        const valid = PROJECT_PATTERN.test(label.toLowerCase());
        for (const host of [`${label}.pod`, `${label}.dev.pod`]) {
          let parsed: string | null = null;
          try {
            parsed = parsePodName(host, FLEET).project;
          } catch (e) {
            assert.ok(e instanceof InputError);
          }
          if (valid) assert.equal(parsed, label.toLowerCase());
          else if (!label.includes(".")) assert.equal(parsed, null);
        }
      }),
    );
  });

  it("podHostNames gives the two forms parsePodName accepts", () => {
    for (const host of podHostNames("work", FLEET)) assert.equal(parsePodName(host, FLEET).project, "work");
  });
});

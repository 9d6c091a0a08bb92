import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ERROR_CODES, isErrorCode } from "../../agent/src/core/error-codes.js";
import { errorCodeOf, InputError, UserFacingError } from "../../agent/src/core/errors.js";
import { LimitRefusal, LIMIT_NAMES } from "../../agent/src/core/container/admission.js";
import { EngineTimeout } from "../../agent/src/adapters/docker/engine-deadline.js";

describe("the error code catalog", () => {
  it("gives a thrown value its code: its own, bad-input for an InputError, internal for anything else", () => {
    assert.equal(errorCodeOf(new UserFacingError("docker-down", "x")), "docker-down");
    assert.equal(errorCodeOf(new EngineTimeout("container create", 30_000, "POST /containers/create")), "engine-timeout");
    assert.equal(errorCodeOf(new InputError("user", "bad")), "bad-input");
    assert.equal(errorCodeOf(new TypeError("x")), "internal");
    assert.equal(errorCodeOf("a string"), "internal");
  });

  it("holds every limit a refusal can name", () => {
    for (const limit of LIMIT_NAMES) {
      assert.ok(isErrorCode(limit), limit);
      assert.equal(errorCodeOf(new LimitRefusal(limit, "m")), limit);
    }
  });

  it("is closed: a name outside it is not a code", () => {
    assert.equal(isErrorCode("start-failed"), false);
    assert.equal(isErrorCode("toString"), false);
  });

  it("is the table in docs/operations.md, code for code and word for word", () => {
    const doc = readFileSync(new URL("../../../docs/operations.md", import.meta.url), "utf8");
    const section = doc.split("\n## Error codes\n")[1]?.split("\n## ")[0];
    assert.ok(section, "docs/operations.md has an '## Error codes' section");
    const rows = [...section.matchAll(/^\| `([a-z-]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    assert.deepEqual(rows, Object.entries(ERROR_CODES));
  });
});

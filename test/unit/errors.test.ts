import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describeError, InputError, UserFacingError } from "../../agent/src/core/errors.js";

describe("InputError", () => {
  it("says the field, the problem and what is allowed, in one line", () => {
    const e = new InputError("resources.memory", "expected a size, got 42", "e.g. 512m, 2g");
    assert.equal(e.message, "resources.memory: expected a size, got 42 (allowed: e.g. 512m, 2g)");
    assert.deepEqual([e.field, e.problem, e.allowed], ["resources.memory", "expected a size, got 42", "e.g. 512m, 2g"]);
  });

  it("leaves the allowed part out when there is none", () => {
    assert.equal(new InputError("user", "must not be empty").message, "user: must not be empty");
  });

  it("is an Error named InputError (what callers and logs tell it apart by)", () => {
    const e = new InputError("f", "p");
    assert.ok(e instanceof Error);
    assert.equal(e.name, "InputError");
    assert.match(String(e), /^InputError: f: p$/);
  });
});

describe("UserFacingError", () => {
  it("carries a code, the one line for the user and a detail for the admin", () => {
    const e = new UserFacingError("image-missing", "the environment image x is not available on this node", "docker said 404");
    assert.equal(e.name, "UserFacingError");
    assert.equal(e.message, "the environment image x is not available on this node");
    assert.deepEqual([e.code, e.detail], ["image-missing", "docker said 404"]);
    assert.ok(e instanceof Error);
  });
});

describe("describeError", () => {
  it("prints an Error's message, and anything else as a string", () => {
    assert.equal(describeError(new TypeError("bad thing")), "bad thing");
    assert.equal(describeError("plain text"), "plain text");
    assert.equal(describeError(42), "42");
    assert.equal(describeError({ message: "not an Error" }), "[object Object]");
  });
});

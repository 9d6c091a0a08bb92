import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LimitRefusal, nodeFull } from "../../agent/src/core/container/admission.js";
import { UserFacingError } from "../../agent/src/core/errors.js";
import { adminDetailOf, finalFrame, INTERNAL_ERROR_MESSAGE, userMessageOf } from "../../agent/src/daemon/session/outcome.js";
import { EngineTimeout } from "../../agent/src/adapters/docker/engine-deadline.js";

describe("how limits and engine timeouts reach the user and the admin", () => {
  it("shows a refusal as its own line, never as internal error, in one Error frame", () => {
    const refusal = nodeFull(500);
    assert.equal(userMessageOf(refusal), "this node is full (500 environments); try again later or ask the admin");
    assert.notEqual(userMessageOf(refusal), INTERNAL_ERROR_MESSAGE);
    const frame = finalFrame({ kind: "error", message: userMessageOf(refusal) });
    assert.deepEqual(frame && JSON.parse(frame.payload), { message: "this node is full (500 environments); try again later or ask the admin" });
  });

  it("gives the admin log no error line for a refusal (it is logged once, as refused)", () => {
    assert.equal(adminDetailOf(new LimitRefusal("sessions-per-user", "you already have 32 sessions")), null);
    assert.notEqual(adminDetailOf(new UserFacingError("image-missing", "no image")), null, "other user-facing failures still reach the admin");
  });

  it("tells the user how long the engine was given, and the admin which call", () => {
    const t = new EngineTimeout("container create", 30_000, "POST /containers/create");
    assert.equal(userMessageOf(t), "the container engine on this node did not answer within 30 s");
    assert.equal(adminDetailOf(t), "the container engine on this node did not answer within 30 s: container create (POST /containers/create) got no answer within 30000 ms");
  });
});

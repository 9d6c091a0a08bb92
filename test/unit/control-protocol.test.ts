import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatControlLine, parseControlRequest, parseControlResponse } from "../../agent/src/core/protocol/control-protocol.js";
import { InputError } from "../../agent/src/core/errors.js";

describe("parseControlRequest", () => {
  it("accepts the four ops", () => {
    assert.deepEqual(parseControlRequest('{"op":"reload"}'), { op: "reload" });
    assert.deepEqual(parseControlRequest('{"op":"status"}'), { op: "status" });
    assert.deepEqual(parseControlRequest('{"op":"metrics"}'), { op: "metrics" });
    assert.deepEqual(parseControlRequest('{"op":"evict","user":"alice"}'), { op: "evict", user: "alice" });
  });

  it("refuses unknown ops, extra fields, bad users and non-JSON", () => {
    for (const bad of ['{"op":"exec"}', '{"op":"reload","x":1}', '{"op":"metrics","user":"alice"}', '{"op":"evict","user":"../root"}', '{"op":"evict"}', "[]", "nope", "null"]) {
      assert.throws(() => parseControlRequest(bad), InputError, bad);
    }
  });

  it("round-trips what formatControlLine writes", () => {
    const line = formatControlLine({ op: "evict", user: "bob" });
    assert.ok(line.endsWith("\n"));
    assert.deepEqual(parseControlRequest(line.trim()), { op: "evict", user: "bob" });
  });
});

describe("parseControlResponse", () => {
  it("checks the fields each op relies on", () => {
    assert.deepEqual(parseControlResponse({ op: "evict", user: "a" }, '{"ok":true,"removed":2}'), { ok: true, removed: 2 });
    assert.throws(() => parseControlResponse({ op: "evict", user: "a" }, '{"ok":true}'), /removed/);
    assert.throws(() => parseControlResponse({ op: "status" }, '{"ok":true,"sessions":[]}'), /containers/);
    assert.deepEqual(parseControlResponse({ op: "status" }, '{"ok":false,"error":"boom"}'), { ok: false, error: "boom" });
    assert.throws(() => parseControlResponse({ op: "reload" }, '{"fine":1}'), /no ok field/);
    assert.deepEqual(parseControlResponse({ op: "metrics" }, '{"ok":true,"text":"x 1\\n"}'), { ok: true, text: "x 1\n" });
    assert.throws(() => parseControlResponse({ op: "metrics" }, '{"ok":true}'), /text/);
  });
});

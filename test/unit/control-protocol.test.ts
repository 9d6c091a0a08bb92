import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CONTROL_OPS, formatControlLine, parseControlRequest, parseControlResponse, type ControlOp } from "../../agent/src/core/protocol/control-protocol.js";
import { InputError } from "../../agent/src/core/errors.js";

const problem = (re: RegExp) => (err: unknown) => err instanceof InputError && re.test(err.message);

describe("the control ops table", () => {
  it("holds exactly today's operations", () => {
    assert.deepEqual(Object.keys(CONTROL_OPS).sort(), ["capacity", "drain", "evict", "list", "metrics", "reload", "status", "stop"]);
  });
});

describe("parseControlRequest", () => {
  it("accepts every op with its fields", () => {
    assert.deepEqual(parseControlRequest('{"op":"reload"}'), { op: "reload" });
    assert.deepEqual(parseControlRequest('{"op":"status"}'), { op: "status" });
    assert.deepEqual(parseControlRequest('{"op":"metrics"}'), { op: "metrics" });
    assert.deepEqual(parseControlRequest('{"user":"alice","op":"evict"}'), { op: "evict", user: "alice" });
    assert.deepEqual(parseControlRequest('{"op":"list"}'), { op: "list" });
    assert.deepEqual(parseControlRequest('{"op":"stop","user":"alice","project":"web","purge":true}'), { op: "stop", user: "alice", project: "web", purge: true });
    assert.deepEqual(parseControlRequest('{"op":"capacity"}'), { op: "capacity" });
  });

  it("refuses an unknown op, listing the allowed ones", () => {
    assert.throws(() => parseControlRequest('{"op":"exec"}'), problem(/unknown op "exec" \(allowed: \{"op":"reload"\}, \{"op":"status"\}, \{"op":"metrics"\}, \{"op":"evict","user":NAME\}, \{"op":"list"\}, \{"op":"stop","user":NAME,"project":NAME\|null,"purge":false\}, \{"op":"capacity"\}, \{"op":"drain","drain":true\|false,"reason":TEXT\|null\}\)/));
    assert.throws(() => parseControlRequest("{}"), problem(/unknown op undefined/));
  });

  it("does not take inherited object properties for ops", () => {
    for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty"]) assert.throws(() => parseControlRequest(JSON.stringify({ op: name })), problem(/unknown op/), name);
  });

  it("refuses extra and missing fields, naming the fields the op takes", () => {
    assert.throws(() => parseControlRequest('{"op":"reload","x":1}'), problem(/op reload takes exactly the fields op, got op,x/));
    assert.throws(() => parseControlRequest('{"op":"metrics","user":"alice"}'), problem(/op metrics takes exactly the fields op/));
    assert.throws(() => parseControlRequest('{"op":"evict"}'), problem(/op evict takes exactly the fields op,user, got op/));
    assert.throws(() => parseControlRequest('{"op":"evict","user":"a","force":true}'), problem(/got force,op,user/));
  });

  it("validates field values with the op's own parser", () => {
    assert.throws(() => parseControlRequest('{"op":"evict","user":"../root"}'), problem(/control request user/));
    assert.throws(() => parseControlRequest('{"op":"evict","user":42}'), InputError);
  });

  it("refuses what is not one JSON object, and lines over the limit", () => {
    for (const bad of ["[]", "nope", "null", '"reload"', "1"]) assert.throws(() => parseControlRequest(bad), InputError, bad);
    assert.throws(() => parseControlRequest(`{"op":"reload","pad":"${"x".repeat(1024 * 1024)}"}`), problem(/too long/));
  });

  it("takes drain with exactly a boolean and a one-line reason or null", () => {
    assert.deepEqual(parseControlRequest('{"op":"drain","drain":true,"reason":"upgrade"}'), { op: "drain", drain: true, reason: "upgrade" });
    assert.deepEqual(parseControlRequest('{"op":"drain","drain":false,"reason":null}'), { op: "drain", drain: false, reason: null });
    assert.throws(() => parseControlRequest('{"op":"drain","drain":"yes","reason":null}'), /control request drain: expected true or false, got "yes"/);
    assert.throws(() => parseControlRequest('{"op":"drain","drain":true,"reason":"a\\nb"}'), /control request reason: "a\\nb" is not a one-line reason/);
    assert.throws(() => parseControlRequest('{"op":"drain","drain":true}'), /op drain takes exactly the fields drain,op,reason/);
  });

  it("round-trips what formatControlLine writes", () => {
    const line = formatControlLine({ op: "evict", user: "bob" });
    assert.ok(line.endsWith("\n"));
    assert.deepEqual(parseControlRequest(line.trim()), { op: "evict", user: "bob" });
  });
});

describe("parseControlResponse", () => {
  const good: Record<ControlOp, string> = {
    reload: '{"ok":true}',
    status: '{"ok":true,"sessions":[],"containers":[]}',
    metrics: '{"ok":true,"text":"x 1\\n"}',
    evict: '{"ok":true,"removed":2}',
    list: '{"ok":true,"environments":[]}',
    stop: '{"ok":true,"environments":1,"sessions":2,"volumes":0}',
    capacity: '{"ok":true,"addressPool":null}',
    drain: '{"ok":true,"drained":true,"reason":null,"since":"2025-01-01T00:00:00.000Z","wasDrained":false,"sessions":1}',
  };
  const requests = {
    reload: { op: "reload" },
    status: { op: "status" },
    metrics: { op: "metrics" },
    evict: { op: "evict", user: "a" },
    list: { op: "list" },
    stop: { op: "stop", user: "a", project: null, purge: false },
    capacity: { op: "capacity" },
    drain: { op: "drain", drain: true, reason: null },
  } as const;

  it("accepts each op's success shape and any op's error", () => {
    for (const op of Object.keys(CONTROL_OPS) as ControlOp[]) {
      assert.deepEqual(parseControlResponse(requests[op], good[op]), JSON.parse(good[op]));
      assert.deepEqual(parseControlResponse(requests[op], '{"ok":false,"error":"boom"}'), { ok: false, error: "boom" });
    }
  });

  it("names what a success response lacks", () => {
    assert.throws(() => parseControlResponse(requests.evict, '{"ok":true}'), /evict response lacks removed/);
    assert.throws(() => parseControlResponse(requests.status, '{"ok":true,"sessions":[]}'), /status response lacks sessions or containers/);
    assert.throws(() => parseControlResponse(requests.metrics, '{"ok":true,"text":5}'), /metrics response lacks text/);
    assert.throws(() => parseControlResponse(requests.drain, '{"ok":true,"drained":true}'), /drain response lacks drained, wasDrained or sessions/);
  });

  it("refuses answers without ok, errors without a message, and non-objects", () => {
    assert.throws(() => parseControlResponse(requests.reload, '{"fine":1}'), /no ok field/);
    assert.throws(() => parseControlResponse(requests.reload, '{"ok":false}'), /no error message/);
    assert.throws(() => parseControlResponse(requests.reload, "[]"), /not a JSON object/);
  });
});

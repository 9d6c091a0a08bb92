import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type Docker from "dockerode";
import { applyDeadlines, ENGINE_CALL_NAMES, engineCallOf, EngineTimeout, type EngineTimeouts } from "../../agent/src/adapters/docker/engine-deadline.js";

type Modem = Docker["modem"];
type Callback = (err: Error | null, result: unknown) => void;

/** A modem whose requests stay open until the test answers them, recording the abort signals. */
function heldModem(): { modem: Modem; requests: { path: string; method?: string; signal?: AbortSignal; answer: Callback }[] } {
  const requests: { path: string; method?: string; signal?: AbortSignal; answer: Callback }[] = [];
  const modem = {
    dial(options: { path: string; method?: string; abortSignal?: AbortSignal }, callback: Callback) {
      requests.push({ path: options.path, ...(options.method ? { method: options.method } : {}), ...(options.abortSignal ? { signal: options.abortSignal } : {}), answer: callback });
    },
  };
  return { modem: modem as unknown as Modem, requests };
}

function dial(modem: Modem, path: string, method = "GET"): Promise<{ err: Error | null; result: unknown }> {
  return new Promise((resolve) => modem.dial({ path, method }, (err, result) => resolve({ err, result })));
}

function setup(t: TestContext, timeouts: EngineTimeouts = { callMs: 30_000, inspectMs: 10_000 }) {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const held = heldModem();
  const timedOut: [string, number][] = [];
  let current = timeouts;
  applyDeadlines(held.modem, { timeouts: () => current, onTimeout: (call, ms) => timedOut.push([call, ms]) });
  return { ...held, timedOut, setTimeouts: (next: EngineTimeouts) => (current = next) };
}

async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe("engineCallOf", () => {
  it("names the calls the daemon makes, with or without the API version and query", () => {
    const cases: [string, string, string, string][] = [
      ["GET", "/_ping", "ping", "inspectMs"],
      ["GET", "/v1.41/containers/json?all=true", "container list", "inspectMs"],
      ["POST", "/containers/create?name=podspawn.a.b", "container create", "callMs"],
      ["GET", "/containers/podspawn.a.b/json?", "container inspect", "inspectMs"],
      ["POST", "/containers/abc/start?", "container start", "callMs"],
      ["DELETE", "/containers/abc?force=true&v=true", "container remove", "callMs"],
      ["HEAD", "/containers/abc/archive?path=%2Fbin%2Fbash", "archive stat", "inspectMs"],
      ["GET", "/containers/abc/archive?path=/etc/passwd", "archive read", "callMs"],
      ["PUT", "/containers/abc/archive?path=/", "archive write", "callMs"],
      ["POST", "/containers/abc/exec", "exec create", "callMs"],
      ["POST", "/exec/123/start", "exec start", "callMs"],
      ["GET", "/exec/123/json", "exec inspect", "inspectMs"],
      ["POST", "/exec/123/resize?h=24&w=80", "exec resize", "inspectMs"],
      ["GET", "/images/podspawn/default:bookworm/json", "image inspect", "inspectMs"],
      ["GET", "/networks?filters=x", "network list", "inspectMs"],
      ["POST", "/networks/create?", "network create", "callMs"],
      ["DELETE", "/networks/podspawn.alice", "network remove", "callMs"],
      ["GET", "/volumes?filters=x", "volume list", "inspectMs"],
      ["DELETE", "/volumes/podspawn.a.b.home", "volume remove", "callMs"],
    ];
    for (const [method, path, name, budget] of cases) assert.deepEqual(engineCallOf(method, path), { name, budget }, `${method} ${path}`);
  });

  it("gives any other request the longer budget, still a deadline, under the fixed name other", () => {
    assert.deepEqual(engineCallOf("POST", "/containers/abc/wait"), { name: "other", budget: "callMs" });
    assert.ok(ENGINE_CALL_NAMES.includes("other"));
    assert.equal(new Set(ENGINE_CALL_NAMES).size, ENGINE_CALL_NAMES.length);
  });
});

describe("applyDeadlines", () => {
  it("fails a call the engine does not answer within its budget with one line, aborts the request and reports the call", async (t) => {
    const { modem, requests, timedOut } = setup(t);
    const pending = dial(modem, "/containers/create?", "POST");
    t.mock.timers.tick(29_999);
    await turns();
    assert.equal(requests[0]?.signal?.aborted, false);
    t.mock.timers.tick(1);
    const { err } = await pending;
    assert.ok(err instanceof EngineTimeout);
    assert.equal(err.message, "the container engine on this node did not answer within 30 s");
    assert.equal(err.detail, "container create (POST /containers/create) got no answer within 30000 ms");
    assert.equal(err.code, "engine-timeout");
    assert.equal(requests[0]?.signal?.aborted, true, "the request is aborted, not left open");
    assert.deepEqual(timedOut, [["container create", 30_000]]);
  });

  it("gives an inspection the shorter budget", async (t) => {
    const { modem } = setup(t);
    const pending = dial(modem, "/containers/x/json");
    t.mock.timers.tick(10_000);
    const { err } = await pending;
    assert.equal(err?.message, "the container engine on this node did not answer within 10 s");
  });

  it("hands back an answer in time unchanged and never fires afterwards", async (t) => {
    const { modem, requests, timedOut } = setup(t);
    let calls = 0;
    const done = new Promise<unknown>((resolve) =>
      modem.dial({ path: "/_ping", method: "GET" }, (err, result) => {
        calls++;
        resolve(err ?? result);
      }),
    );
    requests[0]?.answer(null, "OK");
    assert.equal(await done, "OK");
    t.mock.timers.tick(60_000);
    await turns();
    assert.equal(calls, 1);
    assert.deepEqual(timedOut, []);
  });

  it("passes the engine's own error through", async (t) => {
    const { modem, requests } = setup(t);
    const pending = dial(modem, "/containers/x/json");
    requests[0]?.answer(Object.assign(new Error("(HTTP code 404) no such container"), { statusCode: 404 }), null);
    const { err } = await pending;
    assert.equal((err as { statusCode?: number }).statusCode, 404);
  });

  it("closes a hijacked stream that arrives after the deadline instead of leaking it", async (t) => {
    const { modem, requests } = setup(t);
    const pending = dial(modem, "/exec/1/start", "POST");
    t.mock.timers.tick(30_000);
    await pending;
    let destroyed = false;
    requests[0]?.answer(null, { destroy: () => (destroyed = true) });
    assert.equal(destroyed, true);
  });

  it("reads the budgets at every call, so a config reload applies to the next call", async (t) => {
    const { modem, setTimeouts } = setup(t);
    setTimeouts({ callMs: 500, inspectMs: 250 });
    const pending = dial(modem, "/_ping");
    t.mock.timers.tick(250);
    const { err } = await pending;
    assert.equal(err?.message, "the container engine on this node did not answer within 250 ms");
  });
});

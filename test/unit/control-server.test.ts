import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { handleControl, listenControl, type ControlHandlers } from "../../agent/src/daemon/control/control-server.js";
import type { Environments } from "../../agent/src/daemon/environments/environments.js";
import { DrainGate } from "../../agent/src/daemon/environments/drain-gate.js";
import { OPEN, type DrainState } from "../../agent/src/core/host/drain.js";

/** Handlers that record what they were asked, over one idle and one busy environment. */
function handlers(): ControlHandlers & { calls: string[] } {
  const calls: string[] = [];
  const list = [
    { user: "alice", project: "web", containerId: "0123456789abcdef", sessions: 2, createdAt: Date.UTC(2025, 0, 1) },
    { user: "bob", project: "default", containerId: "fedcba9876543210", sessions: 0, createdAt: Date.UTC(2025, 0, 2) },
  ];
  const environments = {
    list: () => list,
    evict: async (user: string) => (calls.push(`evict ${user}`), 3),
  } as unknown as Environments;
  let saved: DrainState = OPEN;
  const drainGate = new DrainGate({ load: async () => saved, save: async (s) => void (saved = s) }, () => new Date(Date.UTC(2025, 0, 3)));
  return {
    calls,
    environments,
    reload: async () => void calls.push("reload"),
    containerName: (u, p) => `podspawn.${u}.${p}`,
    metrics: () => (calls.push("metrics"), "m 1\n"),
    listEnvironments: async () => (calls.push("list"), []),
    stopEnvironments: async (req) => (calls.push(`stop ${req.user} ${req.project} ${req.purge}`), { ok: true, environments: 1, sessions: 2, volumes: req.purge ? 1 : 0 }),
    addressPool: () => ({ used: 3, free: 5 }),
    drainGate,
  };
}

describe("handleControl", () => {
  it("drains and opens the node, answering what it was and the live sessions", async () => {
    const h = handlers();
    assert.deepEqual(await handleControl('{"op":"drain","drain":true,"reason":"upgrade"}', h), { ok: true, drained: true, reason: "upgrade", since: "2025-01-03T00:00:00.000Z", wasDrained: false, sessions: 2 });
    assert.match(String(h.drainGate.refusal()?.message), /this node is draining: it starts no new environments/);
    assert.deepEqual(await handleControl('{"op":"drain","drain":true,"reason":null}', h), { ok: true, drained: true, reason: "upgrade", since: "2025-01-03T00:00:00.000Z", wasDrained: true, sessions: 2 });
    assert.deepEqual(await handleControl('{"op":"drain","drain":false,"reason":null}', h), { ok: true, drained: false, reason: null, since: null, wasDrained: true, sessions: 2 });
    assert.equal(h.drainGate.refusal(), null);
  });

  it("answers each op from its handler", async () => {
    const h = handlers();
    assert.deepEqual(await handleControl('{"op":"reload"}', h), { ok: true });
    assert.deepEqual(await handleControl('{"op":"metrics"}', h), { ok: true, text: "m 1\n" });
    assert.deepEqual(await handleControl('{"op":"evict","user":"bob"}', h), { ok: true, removed: 3 });
    assert.deepEqual(h.calls, ["reload", "metrics", "evict bob"]);
    assert.deepEqual(await handleControl('{"op":"status"}', h), {
      ok: true,
      sessions: [{ user: "alice", project: "web", container: "0123456789ab", since: "2025-01-01T00:00:00.000Z" }],
      containers: [
        { name: "podspawn.alice.web", id: "0123456789ab", user: "alice", project: "web", state: "in-use", sessions: 2 },
        { name: "podspawn.bob.default", id: "fedcba987654", user: "bob", project: "default", state: "idle", sessions: 0 },
      ],
    });
  });

  it("answers list, stop and capacity from their handlers, passing stop's fields through", async () => {
    const h = handlers();
    assert.deepEqual(await handleControl('{"op":"list"}', h), { ok: true, environments: [] });
    assert.deepEqual(await handleControl('{"op":"stop","user":"alice","project":"web","purge":true}', h), { ok: true, environments: 1, sessions: 2, volumes: 1 });
    assert.deepEqual(await handleControl('{"op":"stop","user":"alice","project":null,"purge":false}', h), { ok: true, environments: 1, sessions: 2, volumes: 0 });
    assert.deepEqual(await handleControl('{"op":"capacity"}', h), { ok: true, addressPool: { used: 3, free: 5 } });
    assert.deepEqual(h.calls, ["list", "stop alice web true", "stop alice null false"]);
  });

  it("refuses a stop whose project or purge is malformed, before any handler runs", async () => {
    const h = handlers();
    const bad = await handleControl('{"op":"stop","user":"alice","project":"../x","purge":false}', h);
    assert.match(!bad.ok ? bad.error : "", /control request project: "..\/x" is not a valid project name/);
    const purge = await handleControl('{"op":"stop","user":"alice","project":null,"purge":"yes"}', h);
    assert.match(!purge.ok ? purge.error : "", /control request purge: expected true or false, got "yes"/);
    assert.deepEqual(h.calls, []);
  });

  it("refuses a bad request with an error answer and calls no handler", async () => {
    const h = handlers();
    const res = await handleControl('{"op":"evict","user":"bob","force":true}', h);
    assert.equal(res.ok, false);
    assert.match(!res.ok ? res.error : "", /op evict takes exactly the fields op,user/);
    assert.deepEqual(h.calls, []);
  });

  it("turns a failing handler into an error answer instead of throwing", async () => {
    const h = { ...handlers(), reload: async () => Promise.reject(new Error("registry unreadable")) };
    assert.deepEqual(await handleControl('{"op":"reload"}', h), { ok: false, error: "registry unreadable" });
  });
});

function exchange(path: string, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let got = "";
    sock.setEncoding("utf8");
    // Far longer than the server's deadline in these tests: only a server that never hangs up hits it.
    sock.setTimeout(3000, () => {
      sock.destroy();
      resolve(`${got}[client gave up]`);
    });
    sock.on("connect", () => sock.write(send));
    sock.on("data", (c: string) => (got += c));
    sock.on("close", () => resolve(got));
    sock.on("error", reject);
  });
}

describe("listenControl", () => {
  it("answers one JSON line on a 0600 socket, and hangs up on a client that never sends a line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pst-ctl-srv-"));
    const path = join(dir, "control.sock");
    const h = handlers();
    const server = await listenControl(path, h, 100);
    try {
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(await exchange(path, '{"op":"evict","user":"bob"}\n'), '{"ok":true,"removed":3}\n');
      assert.equal(await exchange(path, '{"op":"rel'), "", "closed without an answer");
      assert.deepEqual(h.calls, ["evict bob"]);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendControlTo } from "../../agent/src/adapters/daemon/control-client.js";
import { parseControlRequest } from "../../agent/src/core/protocol/control-protocol.js";

async function withServer(handler: (line: string, reply: (s: string) => void) => void, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pst-ctl-"));
  const path = join(dir, "control.sock");
  const server: Server = createServer((sock) => {
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("data", (c: string) => {
      buf += c;
      const nl = buf.indexOf("\n");
      if (nl >= 0) handler(buf.slice(0, nl), (s) => sock.write(s));
    });
  });
  await new Promise<void>((res) => server.listen(path, res));
  try {
    await fn(path);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("sendControl", () => {
  it("sends one JSON line and returns the parsed answer", async () => {
    const got: string[] = [];
    await withServer(
      (line, reply) => {
        got.push(line);
        const req = parseControlRequest(line);
        reply(req.op === "evict" ? '{"ok":true,"removed":3}\n' : '{"ok":true}\n');
      },
      async (path) => {
        assert.deepEqual(await sendControlTo(path, { op: "evict", user: "alice" }), { ok: true, removed: 3 });
        assert.deepEqual(got, ['{"op":"evict","user":"alice"}']);
      },
    );
  });

  it("returns null when no daemon listens (socket missing)", async () => {
    assert.equal(await sendControlTo("/nonexistent/podspawn/control.sock", { op: "reload" }), null);
  });

  it("gives up at its timeout, not before, on a daemon that takes the request and never answers", { timeout: 5000 }, async (t) => {
    let received!: () => void;
    const requestArrived = new Promise<void>((resolve) => (received = resolve));
    await withServer(
      () => received(),
      async (path) => {
        t.mock.timers.enable({ apis: ["setTimeout"] });
        let settled = false;
        const asking = sendControlTo(path, { op: "status" }, 150).finally(() => (settled = true));
        await requestArrived;
        t.mock.timers.tick(149);
        await new Promise((r) => setImmediate(r));
        assert.equal(settled, false, "still waiting 1 ms before the timeout");
        t.mock.timers.tick(1);
        await assert.rejects(asking, /did not answer status within 150 ms/);
      },
    );
  });

  it("refuses a malformed answer", async () => {
    await withServer(
      (_line, reply) => reply('{"ok":true}\n'),
      async (path) => {
        await assert.rejects(sendControlTo(path, { op: "status" }), /malformed answer to status/);
      },
    );
  });
});

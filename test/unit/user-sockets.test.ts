import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { layoutFor, userSocketPath } from "../../agent/src/core/host/layout.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { UserSockets } from "../../agent/src/daemon/user-sockets.js";

const dir = mkdtempSync(join(tmpdir(), "pst-usock-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("UserSockets: the socket's directory is guarded by the user's private group", () => {
  it("listens for a user with a private primary group, never for one whose group another account shares or lists", async () => {
    if (process.getuid?.() !== 0) throw new Error("this test chowns socket dirs: run it as root");
    const layout = { ...layoutFor("podspawn-usock"), runDir: join(dir, "run"), usersDir: join(dir, "users") };
    mkdirSync(layout.usersDir, { recursive: true });
    for (const u of ["alice", "bob", "carol"]) writeFileSync(join(layout.usersDir, `${u}.keys`), "");
    const passwd = join(dir, "passwd");
    const group = join(dir, "group");
    // alice: her own group; bob: mallory's account has bob's group as its primary; carol: dave listed in hers.
    writeFileSync(passwd, ["alice:x:70001:70001::/:/bin/sh", "bob:x:70002:70002::/:/bin/sh", "mallory:x:70003:70002::/:/bin/sh", "carol:x:70004:70004::/:/bin/sh", ""].join("\n"));
    writeFileSync(group, ["alice:x:70001:", "bob:x:70002:", "carol:x:70004:dave", ""].join("\n"));
    const events: DaemonEvent[] = [];
    const sockets = new UserSockets(layout, (s) => s.destroy(), (e) => void events.push(e), { passwd, group });
    try {
      await sockets.sync();
      assert.deepEqual(sockets.users(), ["alice"]);
      assert.ok(existsSync(userSocketPath(layout, "alice")));
      assert.equal(existsSync(userSocketPath(layout, "bob")), false);
      assert.equal(existsSync(userSocketPath(layout, "carol")), false);
      const warnings = events.filter((e) => e.kind === "warning").map((e) => JSON.stringify(e)).join("\n");
      assert.match(warnings, /not listening for bob: host account \\"bob\\"'s primary group also holds \\"mallory\\"/);
      assert.match(warnings, /not listening for carol: host account \\"carol\\"'s primary group also holds \\"dave\\"/);
      // A group that stops being private closes the socket that was listening.
      writeFileSync(group, ["alice:x:70001:eve", "bob:x:70002:", "carol:x:70004:dave", ""].join("\n"));
      await sockets.sync();
      assert.deepEqual(sockets.users(), []);
      assert.equal(existsSync(userSocketPath(layout, "alice")), false);
    } finally {
      await sockets.close();
    }
  });
});

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

describe("UserSockets: each user's container id", () => {
  it("is 100000 + the host uid for a user it listens for; a uid that cannot have one, or whose id a host account holds, gets no socket", async () => {
    if (process.getuid?.() !== 0) throw new Error("this test chowns socket dirs: run it as root");
    const sub = join(dir, "ids");
    const layout = { ...layoutFor("podspawn-usock2"), runDir: join(sub, "run"), usersDir: join(sub, "users") };
    mkdirSync(layout.usersDir, { recursive: true });
    for (const u of ["alice", "bob", "dora", "erin"]) writeFileSync(join(layout.usersDir, `${u}.keys`), "");
    const passwd = join(sub, "passwd");
    const group = join(sub, "group");
    // dora's id (100000 + 1003) is the uid of a directory account; erin's uid is past the range.
    writeFileSync(passwd, ["alice:x:1001:1001::/:/bin/sh", "bob:x:1002:1002::/:/bin/sh", "dora:x:1003:1003::/:/bin/sh", "ldap1:x:101003:101003::/:/bin/sh", "erin:x:100001:100001::/:/bin/sh", ""].join("\n"));
    writeFileSync(group, ["alice:x:1001:", "bob:x:1002:", "dora:x:1003:", "erin:x:100001:", ""].join("\n"));
    const events: DaemonEvent[] = [];
    const sockets = new UserSockets(layout, (s) => s.destroy(), (e) => void events.push(e), { passwd, group });
    try {
      await sockets.sync();
      assert.deepEqual(sockets.users().sort(), ["alice", "bob"]);
      assert.equal(sockets.podIdOf("alice"), 101001);
      assert.equal(sockets.podIdOf("bob"), 101002);
      assert.equal(sockets.podIdOf("dora"), null);
      assert.equal(sockets.podIdOf("nobody-here"), null);
      const warnings = events.filter((e) => e.kind === "warning").map((e) => JSON.stringify(e)).join("\n");
      assert.match(warnings, /not listening for dora: host account \\"dora\\"'s container id 101003 is the uid of host account \\"ldap1\\"/);
      assert.match(warnings, /not listening for erin: host account \\"erin\\" has uid 100001; pod accounts need a uid from 1 to 99999/);
    } finally {
      await sockets.close();
    }
  });
});

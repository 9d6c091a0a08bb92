import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { addKeys } from "../../agent/src/admin/add-keys.js";
import { syncUsers } from "../../agent/src/admin/sync-users.js";
import { UserFacingError } from "../../agent/src/core/errors.js";
import { massRemovalRefusal } from "../../agent/src/core/users/removal-guard.js";
import { adminWorld, keyLines } from "./helpers/admin-world.js";

const FILE = "/srv/users.yaml";

describe("massRemovalRefusal", () => {
  it("refuses removing every user, and more than the share when more than one goes", () => {
    assert.equal(massRemovalRefusal(1, 1, 0.5), "it would remove all 1 pod user(s) of this node");
    assert.equal(massRemovalRefusal(3, 2, 0.5), "it would remove 2 of 3 pod users (more than 50 %)");
    assert.equal(massRemovalRefusal(4, 2, 0.5), null, "exactly the share is allowed");
    assert.equal(massRemovalRefusal(2, 1, 0.1), null, "one user at a time always goes");
    assert.equal(massRemovalRefusal(0, 0, 0.5), null);
  });
});

describe("sync and mass removals", () => {
  async function world(names: string[]) {
    const w = adminWorld();
    for (const n of names) await addKeys({ name: n, keys: keyLines(1), keyFiles: [], github: [] }, w.deps);
    for (const list of [w.log, w.out, w.err]) list.length = 0;
    return w;
  }

  it("refuses an emptied users file, changing nothing", async () => {
    const w = await world(["alice", "bob"]);
    w.files.set(FILE, "version: 1\nusers: []\n");
    await assert.rejects(syncUsers({ file: FILE, dryRun: false }, w.deps), (e: unknown) => e instanceof UserFacingError && e.message === "refusing to sync users.yaml: it would remove all 2 pod user(s) of this node; nothing changed. If that is intended, run sync again with --allow-mass-removal");
    assert.ok(!w.log.some((l) => l.startsWith("deleteUser")), w.log.join("\n"));
    assert.deepEqual([...w.registry.keys.keys()].sort(), ["alice", "bob"]);
  });

  it("goes ahead with --allow-mass-removal", async () => {
    const w = await world(["alice", "bob"]);
    w.files.set(FILE, "version: 1\nusers: []\n");
    await syncUsers({ file: FILE, dryRun: false, allowMassRemoval: true }, w.deps);
    assert.deepEqual([...w.registry.keys.keys()], []);
  });
});

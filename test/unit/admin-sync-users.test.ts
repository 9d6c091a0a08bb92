import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { addKeys } from "../../agent/src/admin/add-keys.js";
import { syncUsers } from "../../agent/src/admin/sync-users.js";
import { InputError } from "../../agent/src/core/errors.js";
import { adminWorld, keyLines, type AdminWorld } from "./helpers/admin-world.js";

const FILE = "/srv/users.yaml";

function usersYaml(users: Record<string, readonly string[]>): string {
  return ["version: 1", "users:", ...Object.entries(users).flatMap(([name, keys]) => [`  - name: ${name}`, "    keys:", ...keys.map((k) => `      - ${k}`)])].join("\n") + "\n";
}

/** alice (keys a0, a1) and bob (b0) already exist. */
async function world(): Promise<{ w: AdminWorld; a: string[]; b: string[] }> {
  const w = adminWorld();
  const a = keyLines(2);
  const b = keyLines(1);
  await addKeys({ name: "alice", keys: a, keyFiles: [], github: [] }, w.deps);
  await addKeys({ name: "bob", keys: b, keyFiles: [], github: [] }, w.deps);
  for (const list of [w.log, w.out, w.err, w.daemon.requests as unknown[]]) list.length = 0;
  return { w, a, b };
}

describe("syncUsers (sync)", () => {
  it("--dry-run prints the plan and changes nothing", async () => {
    const { w, a } = await world();
    const c = keyLines(1);
    w.files.set(FILE, usersYaml({ alice: [a[0] as string], carol: c }));
    await syncUsers({ file: FILE, dryRun: true }, w.deps);
    assert.deepEqual(w.out, ["would create carol with 1 key(s)", "would update alice: +0 -1 key(s), now 1", "would remove bob"]);
    assert.deepEqual(w.log, []);
  });

  it("creates, updates and removes (ending sessions), then tells the daemon", async () => {
    const { w, a } = await world();
    const c = keyLines(1);
    w.daemon.sessions = ["bob"];
    w.files.set(FILE, usersYaml({ alice: [a[0] as string], carol: c }));
    await syncUsers({ file: FILE, dryRun: false }, w.deps);
    assert.deepEqual([...w.accounts.users.keys()].filter((n) => !n.startsWith("podspawn")).sort(), ["alice", "carol"]);
    assert.equal(w.registry.keys.get("alice")?.keys.length, 1);
    assert.equal(w.log.at(-1), "control reload");
    assert.ok(w.log.indexOf("deleteUser bob") > w.log.indexOf("writeAuthorized carol"), "removals come after the creates and updates");
    assert.ok(w.out.includes("ended 1 container(s) of bob"), "bob's live session was ended");
    assert.equal(w.out.at(-1), "synced: 1 created, 1 updated, 1 removed, 0 unchanged");
  });

  it("says there is nothing to change when the node matches the file", async () => {
    const { w, a, b } = await world();
    w.files.set(FILE, usersYaml({ alice: a, bob: b }));
    await syncUsers({ file: FILE, dryRun: false }, w.deps);
    assert.deepEqual(w.out, ["nothing to change (2 user(s) up to date)"]);
    assert.deepEqual(w.log, []);
  });

  it("a bad file changes nothing, and its error names the line and field", async () => {
    const { w, a } = await world();
    w.files.set(FILE, usersYaml({ alice: [a[0] as string], carol: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"] }));
    await assert.rejects(syncUsers({ file: FILE, dryRun: false }, w.deps), (e: unknown) => e instanceof InputError && /users\.yaml:\d+: users\[1\]\.keys\[0\]/.test(e.message));
    assert.deepEqual(w.log, []);
  });

  it("names an unreadable file", async () => {
    const { w } = await world();
    await assert.rejects(syncUsers({ file: "/nope.yaml", dryRun: false }, w.deps), /--file: cannot read \/nope\.yaml/);
  });

  it("refuses a listed name that is someone else's host account before changing anything", async () => {
    const { w, a } = await world();
    w.accounts.addForeignUser("carol");
    w.files.set(FILE, usersYaml({ alice: [a[0] as string], carol: keyLines(1) }));
    await assert.rejects(syncUsers({ file: FILE, dryRun: false }, w.deps), /host account "carol" exists and is not a pod user/);
    assert.deepEqual(w.log, []);
  });

  it("leaves a registry entry of a foreign account alone, with a warning", async () => {
    const { w, a, b } = await world();
    w.accounts.users.delete("bob");
    w.accounts.addForeignUser("bob");
    w.files.set(FILE, usersYaml({ alice: a }));
    await syncUsers({ file: FILE, dryRun: false }, w.deps);
    assert.deepEqual(w.err, ["warning: bob has a registry file but host account bob is not a pod user; leaving it alone"]);
    assert.ok(w.accounts.users.has("bob") && w.registry.keys.has("bob"));
    assert.equal(w.registry.keys.get("bob")?.keys.length, b.length);
  });
});

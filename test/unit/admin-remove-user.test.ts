import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { addKeys } from "../../agent/src/admin/add-keys.js";
import { removeUser } from "../../agent/src/admin/remove-user.js";
import { AccountError } from "../../agent/src/adapters/accounts/host-accounts.js";
import { adminWorld, keyLines, type AdminWorld } from "./helpers/admin-world.js";

async function withAlice(): Promise<AdminWorld> {
  const w = adminWorld();
  await addKeys({ name: "alice", keys: keyLines(1), keyFiles: [], github: [] }, w.deps);
  w.log.length = 0;
  w.out.length = 0;
  w.daemon.requests.length = 0;
  return w;
}

describe("removeUser (remove-user)", () => {
  it("removes the files first, then has the daemon reload and evict, then ends the account's processes, then deletes the account", async () => {
    const w = await withAlice();
    await removeUser("alice", { force: false }, w.deps);
    assert.deepEqual(w.log, ["control status", "remove alice", "control reload", "control evict", "endProcesses alice", "deleteUser alice"]);
    assert.deepEqual(w.daemon.requests.at(-1), { op: "evict", user: "alice" });
    assert.deepEqual(w.out, ["removed alice's keys", "ended 0 container(s) of alice", "removed host account alice"]);
    assert.equal(w.accounts.users.has("alice"), false);
    assert.equal(w.registry.keys.has("alice"), false);
  });

  it("ends a live connection without a session (a ControlMaster) before userdel, and says so", async () => {
    const w = await withAlice();
    w.hostProcesses.set(w.accounts.users.get("alice")!.uid, 2);
    await removeUser("alice", { force: false }, w.deps);
    assert.ok(w.log.indexOf("endProcesses alice") < w.log.indexOf("deleteUser alice"));
    assert.ok(w.log.indexOf("endProcesses alice") > w.log.indexOf("remove alice"), "after the keys are gone, so no new connection can replace them");
    assert.deepEqual(w.out, ["removed alice's keys", "ended 0 container(s) of alice", "ended 2 host process(es) of alice (its open ssh connections)", "removed host account alice"]);
  });

  it("refuses while the user has live sessions and changes nothing; --force ends them", async () => {
    const w = await withAlice();
    w.daemon.sessions = ["alice", "bob"];
    await assert.rejects(removeUser("alice", { force: false }, w.deps), /alice has 1 live session\(s\): default \(c-alice, since .*\); use --force/);
    assert.deepEqual(w.log, ["control status"]);
    assert.ok(w.accounts.users.has("alice") && w.registry.keys.has("alice"));
    await removeUser("alice", { force: true }, w.deps);
    assert.ok(w.out.includes("ended 1 container(s) of alice"));
    assert.equal(w.accounts.users.has("alice"), false);
  });

  it("refuses to remove a host account that is not a pod user", async () => {
    const w = adminWorld();
    w.accounts.addForeignUser("carol");
    await assert.rejects(removeUser("carol", { force: true }, w.deps), /host account "carol" is not a pod user .*refusing to remove it/);
    assert.ok(w.accounts.users.has("carol"));
    assert.deepEqual(w.log, []);
  });

  it("says there is no such pod user", async () => {
    const w = adminWorld();
    await assert.rejects(removeUser("ghost", { force: false }, w.deps), /no pod user named "ghost"/);
  });

  it("removes a registry entry whose account is already gone", async () => {
    const w = await withAlice();
    w.accounts.users.delete("alice");
    await removeUser("alice", { force: false }, w.deps);
    assert.equal(w.registry.keys.has("alice"), false);
    assert.ok(!w.log.some((c) => c.startsWith("deleteUser")));
  });

  it("without a daemon still removes everything", async () => {
    const w = await withAlice();
    w.daemon.down = true;
    await removeUser("alice", { force: false }, w.deps);
    assert.equal(w.accounts.users.has("alice"), false);
    assert.ok(w.out.includes("daemon not running; it reads the registry when it starts"));
  });

  it("stops with a clear error when the daemon cannot end the containers; the keys are gone already", async () => {
    const w = await withAlice();
    const control = w.deps.control;
    const deps = { ...w.deps, control: (async (req) => (req.op === "evict" ? { ok: false, error: "engine down" } : control(req))) as typeof control };
    await assert.rejects(removeUser("alice", { force: false }, deps), /alice's keys are gone but the daemon could not end their containers: engine down/);
    assert.equal(w.registry.keys.has("alice"), false);
    assert.equal(w.accounts.users.has("alice"), true, "the account stays until the containers are gone");
  });

  it("retries userdel while the evicted sessions' processes exit, and gives up after a bound", async () => {
    const w = await withAlice();
    const busy = new AccountError("userdel: user alice is currently used by process 4242");
    const deleteUser = w.accounts.deleteUser.bind(w.accounts);
    let failures = 2;
    w.accounts.deleteUser = async (name) => {
      if (failures-- > 0) throw busy;
      return deleteUser(name);
    };
    await removeUser("alice", { force: true }, w.deps);
    assert.deepEqual(w.sleeps, [150, 150]);
    assert.equal(w.accounts.users.has("alice"), false);

    const v = await withAlice();
    v.accounts.deleteUser = async () => {
      throw busy;
    };
    await assert.rejects(removeUser("alice", { force: true }, v.deps), /currently used by process/);
    assert.equal(v.sleeps.length, 19);
  });
});

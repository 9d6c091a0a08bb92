import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parsePublicKey, type PublicKey } from "../../agent/src/core/users/keys.js";
import { accountProblem, keyConflicts, planSync, type PrimaryGroupFacts } from "../../agent/src/core/users/user-plan.js";
import { freshEd25519 } from "./helpers/test-keys.js";

const k = (): PublicKey => parsePublicKey(freshEd25519());

describe("keyConflicts", () => {
  it("names the other owner of a key, and ignores the user's own keys", () => {
    const [a, b, c] = [k(), k(), k()];
    const registry = new Map([["alice", [a]], ["bob", [b]]]);
    assert.deepEqual(keyConflicts(registry, "alice", [a, b, c]), [{ fingerprint: b.fingerprint, owner: "bob" }]);
  });
});

describe("accountProblem", () => {
  const own: PrimaryGroupFacts = { name: "x", members: [], sharedBy: [] };
  it("allows a new account or one of ours, refuses foreign and docker members", () => {
    assert.equal(accountProblem("x", null, "podspawn-users"), null);
    assert.equal(accountProblem("x", { groups: ["x", "podspawn-users"], primaryGroup: own }, "podspawn-users"), null);
    assert.match(accountProblem("x", { groups: ["x", "sudo"], primaryGroup: own }, "podspawn-users") ?? "", /not a pod user/);
    assert.match(accountProblem("x", { groups: ["x", "podspawn-users", "docker"], primaryGroup: own }, "podspawn-users") ?? "", /docker group/);
  });

  it("refuses a pod account whose primary group is not its private one (the socket dir is guarded by it)", () => {
    const facts = (g: Partial<PrimaryGroupFacts>) => ({ groups: ["x", "podspawn-users"], primaryGroup: { ...own, ...g } });
    const tail = "; its session socket is guarded by that group, so it must be the account's private group";
    assert.equal(accountProblem("x", facts({ name: "users" }), "podspawn-users"), `host account "x"'s primary group is "users", not its own${tail}`);
    assert.equal(accountProblem("x", facts({ members: ["x", "mallory"] }), "podspawn-users"), `host account "x"'s primary group also holds "mallory"${tail}`);
    assert.equal(accountProblem("x", facts({ sharedBy: ["y", "mallory"] }), "podspawn-users"), `host account "x"'s primary group also holds "mallory", "y"${tail}`);
    assert.equal(accountProblem("x", facts({ name: null }), "podspawn-users"), `host account "x"'s primary group has no group entry${tail}`);
    assert.equal(accountProblem("x", facts({ members: ["x"] }), "podspawn-users"), null, "the account itself listed as a member is fine");
  });
});

describe("planSync", () => {
  it("creates, updates, removes and leaves alone as needed", () => {
    const [a, b, c] = [k(), k(), k()];
    const current = new Map([["keep", [a]], ["change", [b]], ["gone", [c]]]);
    const plan = planSync(current, [{ name: "keep", keys: [a] }, { name: "change", keys: [b, c] }, { name: "new", keys: [a] }]);
    assert.deepEqual(plan.create.map((u) => u.name), ["new"]);
    assert.deepEqual(plan.update.map((u) => [u.name, u.added, u.removed]), [["change", 1, 0]]);
    assert.deepEqual(plan.remove, ["gone"]);
    assert.deepEqual(plan.unchanged, ["keep"]);
  });

  it("plans nothing when the state already matches (idempotent)", () => {
    const a = k();
    const plan = planSync(new Map([["x", [a]]]), [{ name: "x", keys: [a] }]);
    assert.equal(plan.create.length + plan.update.length + plan.remove.length, 0);
  });
});

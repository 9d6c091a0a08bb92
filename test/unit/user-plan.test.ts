import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parsePublicKey, type PublicKey } from "../../agent/src/core/users/keys.js";
import { accountProblem, keyConflicts, planSync } from "../../agent/src/core/users/user-plan.js";
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
  it("allows a new account or one of ours, refuses foreign and docker members", () => {
    assert.equal(accountProblem("x", null, "podspawn-users"), null);
    assert.equal(accountProblem("x", { groups: ["x", "podspawn-users"] }, "podspawn-users"), null);
    assert.match(accountProblem("x", { groups: ["x", "sudo"] }, "podspawn-users") ?? "", /not a pod user/);
    assert.match(accountProblem("x", { groups: ["x", "podspawn-users", "docker"] }, "podspawn-users") ?? "", /docker group/);
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

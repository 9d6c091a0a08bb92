import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { rankNodes, rendezvousScore } from "../../agent/src/core/fleet/rendezvous.js";

const node = (name: string) => ({ name });
const names = (n: number, prefix = "n") => Array.from({ length: n }, (_, i) => node(`${prefix}${i}`));
const nodeSet = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 12 }).map((ns) => ns.map(node));
const key = fc.record({ user: fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/), project: fc.stringMatching(/^[a-z0-9]{1,10}$/) });

describe("rendezvous hashing", () => {
  it("scores with sha256(user NUL project NUL node), first 64 bits", () => {
    // sha256("alice\0work\0fa") computed independently with `printf 'alice\0work\0fa' | sha256sum`.
    assert.equal(rendezvousScore("alice", "work", "fa").toString(16).padStart(16, "0"), "44ab955c23c91000");
  });

  it("ranks the highest score first (fixed vector)", () => {
    // First 64 bits of `printf 'alice\0work\0<node>' | sha256sum`, computed outside this code:
    //   na 2fea16a07e200f7a  nb fa6b0fca62ca738b  nc cd86065472b3dda0  nd da5da186cd0e84de  ne bfc6d2d491154783
    const nodes = ["na", "nb", "nc", "nd", "ne"].map(node);
    assert.deepEqual(rankNodes("alice", "work", nodes).map((n) => n.name), ["nb", "nd", "nc", "ne", "na"]);
    assert.deepEqual(rankNodes("alice", "work", [...nodes].reverse()).map((n) => n.name), ["nb", "nd", "nc", "ne", "na"]);
  });

  it("keeps every node's own object, so callers get back what they listed", () => {
    const nodes = [{ name: "na", port: 1 }, { name: "nb", port: 2 }];
    const ranked = rankNodes("alice", "work", nodes);
    assert.equal(ranked[0], nodes[1]);
    assert.equal(ranked[1], nodes[0]);
  });

  it("orders every node, the same way for the same inputs, whatever the listing order", () => {
    fc.assert(
      fc.property(nodeSet, key, (nodes, k) => {
        const a = rankNodes(k.user, k.project, nodes);
        const b = rankNodes(k.user, k.project, [...nodes].reverse());
        assert.deepEqual(a.map((n) => n.name), b.map((n) => n.name));
        assert.deepEqual([...a.map((n) => n.name)].sort(), nodes.map((n) => n.name).sort());
      }),
    );
  });

  it("adding a node moves only the keys the new node wins; the rest keep their whole order", () => {
    fc.assert(
      fc.property(nodeSet, fc.stringMatching(/^new[a-z0-9]{0,5}$/), fc.array(key, { minLength: 1, maxLength: 30 }), (nodes, added, keys) => {
        fc.pre(!nodes.some((n) => n.name === added));
        for (const k of keys) {
          const before = rankNodes(k.user, k.project, nodes).map((n) => n.name);
          const after = rankNodes(k.user, k.project, [...nodes, node(added)]).map((n) => n.name);
          if (after[0] !== added) assert.equal(after[0], before[0]);
          assert.deepEqual(after.filter((n) => n !== added), before);
        }
      }),
    );
  });

  it("removing a node moves only the keys it held, each to its next choice", () => {
    fc.assert(
      fc.property(nodeSet, fc.nat(), fc.array(key, { minLength: 1, maxLength: 30 }), (nodes, pick, keys) => {
        fc.pre(nodes.length >= 2);
        const gone = nodes[pick % nodes.length]!.name;
        const rest = nodes.filter((n) => n.name !== gone);
        for (const k of keys) {
          const before = rankNodes(k.user, k.project, nodes).map((n) => n.name);
          const after = rankNodes(k.user, k.project, rest).map((n) => n.name);
          assert.deepEqual(after, before.filter((n) => n !== gone));
        }
      }),
    );
  });

  const keys10k = Array.from({ length: 10_000 }, (_, i) => ({ user: `user${i % 500}`, project: `p${Math.floor(i / 500)}` }));

  it("spreads 10k keys roughly evenly over 5 nodes (each within 15% of its share)", () => {
    const nodes = names(5);
    const counts = new Map<string, number>();
    for (const k of keys10k) {
      const first = rankNodes(k.user, k.project, nodes)[0]!.name;
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    for (const n of nodes) {
      const c = counts.get(n.name) ?? 0;
      assert.ok(c > 2000 * 0.85 && c < 2000 * 1.15, `${n.name} got ${c} of 10000`);
    }
  });

  it("moves about 1/(n+1) of 10k keys when a 6th node joins 5", () => {
    const five = names(5);
    const six = [...five, node("n5")];
    const moved = keys10k.filter((k) => rankNodes(k.user, k.project, five)[0]!.name !== rankNodes(k.user, k.project, six)[0]!.name).length;
    assert.ok(moved > 10_000 / 6 * 0.85 && moved < 10_000 / 6 * 1.15, `moved ${moved} of 10000`);
  });
});

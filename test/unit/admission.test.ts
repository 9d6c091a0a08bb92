import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { admitLogin, isCapacityLimit, LimitRefusal, nodeFull, type LoginFacts, type NodeLimits } from "../../agent/src/core/container/admission.js";
import { capExceeded, DEFAULT_RESOURCE_CAPS } from "../../agent/src/core/container/resource-caps.js";

const LIMITS: NodeLimits = { maxEnvironments: 500, environmentsPerUser: 5, sessionsPerUser: 32 };
const GRACE = { mode: "grace-period" as const, gracePeriodMs: 60_000 };

function facts(over: Partial<LoginFacts> = {}): LoginFacts {
  return { project: "web", userProjects: [], userSessions: 0, nodeEnvironments: 0, ...over };
}

describe("admitLogin", () => {
  it("lets a first login on an empty node go ahead", () => {
    assert.equal(admitLogin(facts(), LIMITS, GRACE), null);
  });

  it("refuses the session past sessions_per_user, even into an environment the user already has", () => {
    const r = admitLogin(facts({ userProjects: ["web"], userSessions: 32 }), LIMITS, GRACE);
    assert.ok(r instanceof LimitRefusal);
    assert.equal(r.limit, "sessions-per-user");
    assert.equal(r.message, "you already have 32 sessions on this node (limit 32); end one and try again");
    assert.equal(admitLogin(facts({ userProjects: ["web"], userSessions: 31 }), LIMITS, GRACE), null);
  });

  it("refuses a new project past environments_per_user, listing the user's environments and when one goes", () => {
    const r = admitLogin(facts({ project: "f", userProjects: ["e", "a", "d", "c", "b"] }), LIMITS, GRACE);
    assert.equal(r?.limit, "environments-per-user");
    assert.equal(r?.message, "you already have 5 environments on this node (limit 5): a, b, c, d, e; end every session of one and it goes after 60 s, or ask the admin");
    const destroy = admitLogin(facts({ project: "f", userProjects: ["e", "a", "d", "c", "b"] }), LIMITS, { mode: "destroy-on-disconnect", gracePeriodMs: 60_000 });
    assert.match(destroy?.message ?? "", /it goes at once, or ask the admin$/);
  });

  it("lets the user back into an environment they have at the quota", () => {
    assert.equal(admitLogin(facts({ project: "c", userProjects: ["a", "b", "c", "d", "e"] }), LIMITS, GRACE), null);
  });

  it("keeps a long project list to one readable line", () => {
    const many = Array.from({ length: 14 }, (_, i) => `p${String(i).padStart(2, "0")}`);
    const r = admitLogin(facts({ project: "new", userProjects: many }), { ...LIMITS, environmentsPerUser: 14 }, GRACE);
    assert.match(r?.message ?? "", /: p00, p01, p02, p03, p04, p05, p06, p07, p08, p09 and 4 more; /);
    assert.ok(!(r?.message ?? "").includes("\n"));
  });

  it("refuses a new environment on a full node with the node-full line, and admits one into an existing environment", () => {
    const r = admitLogin(facts({ nodeEnvironments: 500 }), LIMITS, GRACE);
    assert.equal(r?.limit, "max-environments");
    assert.equal(r?.message, "this node is full (500 environments); try again later or ask the admin");
    assert.equal(admitLogin(facts({ nodeEnvironments: 500, userProjects: ["web"], userSessions: 1 }), LIMITS, GRACE), null);
  });

  it("admits exactly when every limit holds (a model of the three rules)", () => {
    fc.assert(
      fc.property(
        fc.record({ sessions: fc.nat(40), projects: fc.uniqueArray(fc.constantFrom("a", "b", "c", "d", "e", "f", "g"), { maxLength: 7 }), node: fc.nat(20), project: fc.constantFrom("a", "b", "z") }),
        fc.record({ maxEnvironments: fc.integer({ min: 1, max: 20 }), environmentsPerUser: fc.integer({ min: 1, max: 7 }), sessionsPerUser: fc.integer({ min: 1, max: 40 }) }),
        (f, limits) => {
          const isNew = !(f.projects as string[]).includes(f.project);
          const allowed = f.sessions < limits.sessionsPerUser && (!isNew || (f.projects.length < limits.environmentsPerUser && f.node < limits.maxEnvironments));
          const r = admitLogin({ project: f.project, userProjects: f.projects, userSessions: f.sessions, nodeEnvironments: f.node }, limits, GRACE);
          assert.equal(r === null, allowed);
        },
      ),
    );
  });

  it("counts in words that read right for one", () => {
    assert.equal(admitLogin(facts({ nodeEnvironments: 1 }), { ...LIMITS, maxEnvironments: 1 }, GRACE)?.message, "this node is full (1 environment); try again later or ask the admin");
    assert.equal(admitLogin(facts({ userSessions: 1 }), { ...LIMITS, sessionsPerUser: 1 }, GRACE)?.message, "you already have 1 session on this node (limit 1); end one and try again");
    assert.match(admitLogin(facts({ userProjects: ["a"] }), { ...LIMITS, environmentsPerUser: 1 }, GRACE)?.message ?? "", /^you already have 1 environment on this node \(limit 1\): a;/);
  });

  it("sorts limits into node capacity and per-user quotas", () => {
    assert.deepEqual(["sessions-per-user", "environments-per-user", "max-environments", "address-pool"].map((l) => isCapacityLimit(l as never)), [false, false, true, true]);
    assert.equal(nodeFull(12, "address-pool").limit, "address-pool");
  });
});

describe("capExceeded", () => {
  it("names the first resource above its cap in the config's words", () => {
    assert.deepEqual(capExceeded({ cpus: 8 }, DEFAULT_RESOURCE_CAPS), { field: "cpus", problem: "8 CPUs is above this node's cap of 4", allowed: "at most 4" });
    assert.deepEqual(capExceeded({ memoryBytes: 9 * 1024 ** 3 }, DEFAULT_RESOURCE_CAPS), { field: "memory", problem: "9g is above this node's cap of 8g", allowed: "at most 8g" });
    assert.equal(capExceeded({ pids: 5000 }, DEFAULT_RESOURCE_CAPS)?.field, "pids");
  });

  it("accepts anything at or below the caps, and an empty request", () => {
    assert.equal(capExceeded({}, DEFAULT_RESOURCE_CAPS), null);
    assert.equal(capExceeded({ ...DEFAULT_RESOURCE_CAPS }, DEFAULT_RESOURCE_CAPS), null);
  });
});

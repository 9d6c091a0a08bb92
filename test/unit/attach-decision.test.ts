import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decideAttach, mustReadMarker, type AttachDecision, type FoundContainer, type KnownEnvironment } from "../../agent/src/core/container/attach-decision.js";
import { containerSpec } from "../../agent/src/core/container/container-spec.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";

const WANTED = containerSpec("pst", "alice", "default", { ...DEFAULT_NODE_CONFIG, image: "podspawn/test:fake" }).labels;
const STALE = containerSpec("pst", "alice", "default", { ...DEFAULT_NODE_CONFIG, image: "podspawn/test:fake", resources: { ...DEFAULT_NODE_CONFIG.resources, cpus: 3 } }).labels;
const FOUND_ID = "c-found";

/** Every state the daemon's table can be in for (user, project), by name. */
const KNOWN: Record<string, KnownEnvironment | null> = {
  none: null,
  "trusted idle": { containerId: FOUND_ID, sessions: 0, ready: true },
  "trusted busy": { containerId: FOUND_ID, sessions: 2, ready: true },
  "recovered idle": { containerId: FOUND_ID, sessions: 0, ready: false },
  "recovered busy": { containerId: FOUND_ID, sessions: 2, ready: false },
  "swapped idle": { containerId: "c-before", sessions: 0, ready: true },
  "swapped busy": { containerId: "c-before", sessions: 2, ready: true },
};

type Marker = "marker" | "no marker" | "unread";
type Hash = "same" | "stale";
type Run = "running" | "stopped";

function found(marker: Marker, hash: Hash, run: Run, labels: Readonly<Record<string, string>> = hash === "same" ? WANTED : STALE): FoundContainer {
  return { id: FOUND_ID, labels, running: run === "running", marker: marker === "marker" ? true : marker === "no marker" ? false : null };
}

function code(d: AttachDecision): string {
  switch (d.action) {
    case "create":
      return "create";
    case "reuse":
    case "start":
      return d.adopt ? `${d.action}+adopt` : d.action;
    case "recreate":
      return `recreate:${d.reason}`;
    case "refuse":
      return `refuse:${d.owner}`;
  }
}

/*
 * Expected outcomes for a container of ours, written out by hand from the rules:
 * never attach without a ready marker (read now, or remembered for that very container id);
 * recreate on a stale spec hash unless sessions are live on that very container;
 * adopt whenever the table could not vouch for it.
 */
const NOT_READY = "recreate:not-ready";
const CONFIG = "recreate:config-changed";
const TABLE: Record<string, readonly [Marker, Hash, Run, string][]> = {
  none: [
    ["marker", "same", "running", "reuse+adopt"],
    ["marker", "same", "stopped", "start+adopt"],
    ["marker", "stale", "running", CONFIG],
    ["marker", "stale", "stopped", CONFIG],
    ["no marker", "same", "running", NOT_READY],
    ["no marker", "same", "stopped", NOT_READY],
    ["no marker", "stale", "running", NOT_READY],
    ["no marker", "stale", "stopped", NOT_READY],
    ["unread", "same", "running", NOT_READY],
    ["unread", "same", "stopped", NOT_READY],
    ["unread", "stale", "running", NOT_READY],
    ["unread", "stale", "stopped", NOT_READY],
  ],
  "trusted idle": [
    ["marker", "same", "running", "reuse"],
    ["marker", "same", "stopped", "start"],
    ["marker", "stale", "running", CONFIG],
    ["marker", "stale", "stopped", CONFIG],
    ["no marker", "same", "running", NOT_READY],
    ["no marker", "same", "stopped", NOT_READY],
    ["no marker", "stale", "running", NOT_READY],
    ["no marker", "stale", "stopped", NOT_READY],
    ["unread", "same", "running", "reuse"],
    ["unread", "same", "stopped", "start"],
    ["unread", "stale", "running", CONFIG],
    ["unread", "stale", "stopped", CONFIG],
  ],
  "trusted busy": [
    ["marker", "same", "running", "reuse"],
    ["marker", "same", "stopped", "start"],
    ["marker", "stale", "running", "reuse"],
    ["marker", "stale", "stopped", "start"],
    ["no marker", "same", "running", NOT_READY],
    ["no marker", "same", "stopped", NOT_READY],
    ["no marker", "stale", "running", NOT_READY],
    ["no marker", "stale", "stopped", NOT_READY],
    ["unread", "same", "running", "reuse"],
    ["unread", "same", "stopped", "start"],
    ["unread", "stale", "running", "reuse"],
    ["unread", "stale", "stopped", "start"],
  ],
  "recovered idle": [
    ["marker", "same", "running", "reuse+adopt"],
    ["marker", "same", "stopped", "start+adopt"],
    ["marker", "stale", "running", CONFIG],
    ["marker", "stale", "stopped", CONFIG],
    ["no marker", "same", "running", NOT_READY],
    ["no marker", "same", "stopped", NOT_READY],
    ["no marker", "stale", "running", NOT_READY],
    ["no marker", "stale", "stopped", NOT_READY],
    ["unread", "same", "running", NOT_READY],
    ["unread", "same", "stopped", NOT_READY],
    ["unread", "stale", "running", NOT_READY],
    ["unread", "stale", "stopped", NOT_READY],
  ],
  "recovered busy": [
    ["marker", "same", "running", "reuse+adopt"],
    ["marker", "same", "stopped", "start+adopt"],
    ["marker", "stale", "running", "reuse+adopt"],
    ["marker", "stale", "stopped", "start+adopt"],
    ["no marker", "same", "running", NOT_READY],
    ["no marker", "same", "stopped", NOT_READY],
    ["no marker", "stale", "running", NOT_READY],
    ["no marker", "stale", "stopped", NOT_READY],
    ["unread", "same", "running", NOT_READY],
    ["unread", "same", "stopped", NOT_READY],
    ["unread", "stale", "running", NOT_READY],
    ["unread", "stale", "stopped", NOT_READY],
  ],
  "swapped idle": [
    ["marker", "same", "running", "reuse+adopt"],
    ["marker", "same", "stopped", "start+adopt"],
    ["marker", "stale", "running", CONFIG],
    ["marker", "stale", "stopped", CONFIG],
    ["no marker", "same", "running", NOT_READY],
    ["no marker", "same", "stopped", NOT_READY],
    ["no marker", "stale", "running", NOT_READY],
    ["no marker", "stale", "stopped", NOT_READY],
    ["unread", "same", "running", NOT_READY],
    ["unread", "same", "stopped", NOT_READY],
    ["unread", "stale", "running", NOT_READY],
    ["unread", "stale", "stopped", NOT_READY],
  ],
  // The live sessions are on the container that was swapped out: they pin nothing here.
  "swapped busy": [
    ["marker", "same", "running", "reuse+adopt"],
    ["marker", "same", "stopped", "start+adopt"],
    ["marker", "stale", "running", CONFIG],
    ["marker", "stale", "stopped", CONFIG],
    ["no marker", "same", "running", NOT_READY],
    ["no marker", "same", "stopped", NOT_READY],
    ["no marker", "stale", "running", NOT_READY],
    ["no marker", "stale", "stopped", NOT_READY],
    ["unread", "same", "running", NOT_READY],
    ["unread", "same", "stopped", NOT_READY],
    ["unread", "stale", "running", NOT_READY],
    ["unread", "stale", "stopped", NOT_READY],
  ],
};

/** Containers under alice's name that are not hers, and who the refusal names. */
const FOREIGN: readonly [string, Readonly<Record<string, string>>, string][] = [
  ["labelled for another user", { ...WANTED, "podspawn.user": "bob" }, "bob/default"],
  ["labelled for another project", { ...WANTED, "podspawn.project": "web" }, "alice/web"],
  ["labelled for another instance", { ...WANTED, "podspawn.instance": "other" }, "alice/default of instance other"],
  ["not labelled as managed", { ...WANTED, "podspawn.managed": "false" }, "alice/default (not managed by podspawn)"],
  ["without any labels", {}, "nobody/nothing (not managed by podspawn)"],
];

describe("decideAttach", () => {
  it("covers every table state with all twelve (marker, hash, running) cases", () => {
    assert.deepEqual(Object.keys(TABLE), Object.keys(KNOWN));
    for (const rows of Object.values(TABLE)) assert.equal(new Set(rows.map(([m, h, r]) => `${m}/${h}/${r}`)).size, 12);
  });

  for (const [knownName, rows] of Object.entries(TABLE)) {
    it(`decides for a container of ours when the table holds: ${knownName}`, () => {
      const known = KNOWN[knownName] ?? null;
      const got = rows.map(([m, h, r]) => [m, h, r, code(decideAttach(known, found(m, h, r), WANTED))]);
      assert.deepEqual(got, rows);
    });
  }

  it("creates when the engine has nothing under the name, whatever the table holds", () => {
    for (const known of Object.values(KNOWN)) assert.equal(code(decideAttach(known, null, WANTED)), "create");
  });

  for (const [what, labels, owner] of FOREIGN) {
    it(`refuses a container ${what}, naming its owner, in every other respect`, () => {
      for (const known of Object.values(KNOWN)) {
        for (const [m, h, r] of TABLE["none"] ?? []) assert.equal(code(decideAttach(known, found(m, h, r, labels), WANTED)), `refuse:${owner}`);
      }
    });
  }

  it("never attaches to a container whose marker was read and found missing, nor to one not owned", () => {
    const labels = fc.record({ "podspawn.managed": fc.constantFrom("true", "false"), "podspawn.instance": fc.constantFrom("pst", "x"), "podspawn.user": fc.constantFrom("alice", "bob"), "podspawn.project": fc.constantFrom("default", "web"), "podspawn.spec-hash": fc.constantFrom(WANTED["podspawn.spec-hash"] ?? "", "0000") }, { requiredKeys: [] });
    const known = fc.option(fc.record({ containerId: fc.constantFrom(FOUND_ID, "c-before"), sessions: fc.nat(3), ready: fc.boolean() }), { nil: null });
    fc.assert(
      fc.property(known, labels, fc.boolean(), fc.constantFrom(true, false, null), (k, l, running, marker) => {
        const d = decideAttach(k, { id: FOUND_ID, labels: l, running, marker }, WANTED);
        const attaches = d.action === "reuse" || d.action === "start";
        const owned = ["podspawn.managed", "podspawn.instance", "podspawn.user", "podspawn.project"].every((key) => l[key as keyof typeof l] === WANTED[key]);
        if (!owned) assert.equal(d.action, "refuse");
        if (marker === false) assert.equal(attaches, false);
      }),
    );
  });
});

describe("mustReadMarker", () => {
  const facts = { id: FOUND_ID, labels: WANTED, running: true };
  it("reads the marker of a container of ours unless the table wrote or read it for that very id", () => {
    const expected: Record<string, boolean> = {
      none: true,
      "trusted idle": false,
      "trusted busy": false,
      "recovered idle": true,
      "recovered busy": true,
      "swapped idle": true,
      "swapped busy": true,
    };
    for (const [name, known] of Object.entries(KNOWN)) assert.equal(mustReadMarker(known, facts, WANTED), expected[name], name);
  });

  it("never reads from a container that is not ours (it is refused untouched)", () => {
    for (const [, labels] of FOREIGN) {
      for (const known of Object.values(KNOWN)) assert.equal(mustReadMarker(known, { ...facts, labels }, WANTED), false);
    }
  });

  it("does not count the spec hash as ownership: a stale container of ours is still read", () => {
    assert.equal(mustReadMarker(null, { ...facts, labels: STALE }, WANTED), true);
  });
});

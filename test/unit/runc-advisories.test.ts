import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { fixedByVersion, parseRuncVersion, refusingAdvisories, RUNC_ADVISORIES, runcExposure, runcVersionOf } from "../../agent/src/core/host/runc-advisories.js";

const advisory = (id: string) => {
  const a = RUNC_ADVISORIES.find((x) => x.id === id);
  assert.ok(a, id);
  return a;
};
const v = (text: string) => {
  const parsed = parseRuncVersion(text);
  assert.ok(parsed, text);
  return parsed;
};
const versionOutput = (version: string): string => `runc version ${version}\ncommit: x\nspec: 1.0.2-dev\n`;
/** What Debian 12's runc says (the machine these tests run on), and the part of its changelog that matters. */
const DEBIAN_12 = versionOutput("1.1.5+ds1");
const DEBIAN_12_CHANGELOG = `runc (1.1.5+ds1-1+deb12u1) bookworm-security; urgency=high

  * Team upload.
  * CVE-2024-21626: several container breakouts due to internally leaked fds
`;

describe("runc versions", () => {
  it("reads releases, candidates with and without a dot, and distribution suffixes", () => {
    assert.deepEqual(parseRuncVersion("1.1.5+ds1"), { parts: [1, 1, 5], rc: Number.POSITIVE_INFINITY });
    assert.deepEqual(parseRuncVersion("1.0.0-rc95"), { parts: [1, 0, 0], rc: 95 });
    assert.deepEqual(parseRuncVersion("1.4.0-rc.3"), { parts: [1, 4, 0], rc: 3 });
    assert.deepEqual(parseRuncVersion("1.1.12~deb11u1"), { parts: [1, 1, 12], rc: Number.POSITIVE_INFINITY });
    for (const bad of ["", "1.1", "v1.1.5", "1.1.5 ", "x.y.z", "1.1.5-beta"]) assert.equal(parseRuncVersion(bad), null, bad);
  });

  it("takes the version from the first line of runc --version only", () => {
    assert.equal(runcVersionOf(DEBIAN_12), "1.1.5+ds1");
    assert.equal(runcVersionOf("crun version 1.8\n"), null);
    assert.equal(runcVersionOf(""), null);
    assert.equal(runcVersionOf("not runc version 1.9.9\n"), null, "a line that only contains the words");
    assert.equal(runcVersionOf("runc version 1.9.9 (patched)\n"), null, "more than a version after them: unreadable, so fail closed");
  });

  it("counts a fix on its own release line, and on a line that came after every fixed one", () => {
    const console = advisory("CVE-2025-52565"); // fixed in 1.2.8, 1.3.3, 1.4.0-rc.3
    assert.equal(fixedByVersion(v("1.2.7"), console), false);
    assert.equal(fixedByVersion(v("1.2.8"), console), true);
    assert.equal(fixedByVersion(v("1.3.2"), console), false);
    assert.equal(fixedByVersion(v("1.3.3"), console), true);
    assert.equal(fixedByVersion(v("1.4.0-rc.2"), console), false);
    assert.equal(fixedByVersion(v("1.4.0"), console), true, "a release comes after its candidates");
    assert.equal(fixedByVersion(v("1.5.0"), console), true);
    assert.equal(fixedByVersion(v("1.1.99"), console), false, "1.1 predates the fixed lines and never got the fix");
    assert.equal(fixedByVersion(v("1.0.0-rc95"), advisory("CVE-2019-5736")), true);
    assert.equal(fixedByVersion(v("1.0.0-rc6"), advisory("CVE-2019-5736")), false);
  });

  it("a line between two fixed lines that has no fix of its own stays open; one after every fixed line is fixed", () => {
    // As runc's own lines go: 1.3 was never patched for a bug fixed in 1.2.8 and 1.4.0.
    const gap = { id: "CVE-0000-0001", vector: "image" as const, summary: "test", fixedIn: ["1.2.8", "1.4.0"] };
    assert.equal(fixedByVersion(v("1.3.9"), gap), false, "1.3 came before the 1.4 fix and had none of its own");
    assert.equal(fixedByVersion(v("1.5.0"), gap), true);
    assert.equal(fixedByVersion(v("1.2.9"), gap), true);
  });

  it("ignores a fix entry that is not a version, and an advisory with none is open on every version", () => {
    const odd = { id: "CVE-0000-0002", vector: "image" as const, summary: "test", fixedIn: ["1.2.x", "1.2.8"] };
    assert.equal(fixedByVersion(v("1.2.8"), odd), true);
    assert.equal(fixedByVersion(v("1.2.7"), odd), false);
    const unfixed = { id: "CVE-0000-0003", vector: "image" as const, summary: "test", fixedIn: [] };
    assert.equal(fixedByVersion(v("9.9.9"), unfixed), false);
  });

  it("reads a major version of more than one digit", () => {
    assert.deepEqual(parseRuncVersion("10.2.3"), { parts: [10, 2, 3], rc: Number.POSITIVE_INFINITY });
  });

  it("every advisory in the table has a CVE id, a summary for the daemon's log line, and fixes that parse", () => {
    for (const a of RUNC_ADVISORIES) {
      assert.match(a.id, /^CVE-\d{4}-\d{4,}$/);
      assert.ok(a.summary.length >= 20, `${a.id}: the log line names what the escape does`);
      assert.ok(a.fixedIn.length > 0 && a.fixedIn.every((f) => parseRuncVersion(f) !== null), `${a.id}: ${a.fixedIn.join(", ")}`);
    }
  });

  it("a version at or past every listed fix has no advisory open (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 20 }), fc.integer({ min: 0, max: 50 }), (minor, patch) => {
        assert.deepEqual(runcExposure(versionOutput(`1.${minor}.${patch}`), null).open, []);
      }),
    );
  });
});

describe("runcExposure", () => {
  it("on Debian 12's runc: the backported CVE-2024-21626 is closed, the escapes through images are open, none a session can use", () => {
    const e = runcExposure(DEBIAN_12, DEBIAN_12_CHANGELOG);
    assert.equal(e.version, "1.1.5+ds1");
    assert.deepEqual(e.open.map((a) => a.id), ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
    assert.deepEqual(e.open.filter((a) => a.vector === "session"), []);
  });

  it("without the changelog the same runc also has CVE-2024-21626 open", () => {
    assert.ok(runcExposure(DEBIAN_12, null).open.some((a) => a.id === "CVE-2024-21626" && a.vector === "session"));
  });

  it("a changelog counts only a whole id (CVE-2024-216260 is not CVE-2024-21626)", () => {
    assert.ok(runcExposure(DEBIAN_12, "* CVE-2024-216260: something else\n").open.some((a) => a.id === "CVE-2024-21626"));
  });

  it("fails closed on a runc whose version cannot be read: every advisory is open", () => {
    const e = runcExposure("runc: command output changed\n", null);
    assert.equal(e.version, "unknown");
    assert.equal(e.open.length, RUNC_ADVISORIES.length);
  });

  it("leaves out what the admin accepted, by id", () => {
    const e = runcExposure(DEBIAN_12, DEBIAN_12_CHANGELOG);
    assert.deepEqual(refusingAdvisories(e, ["CVE-2025-31133", "CVE-2024-45310"]).map((a) => a.id), ["CVE-2025-52565", "CVE-2025-52881"]);
    assert.deepEqual(refusingAdvisories(e, e.open.map((a) => a.id)), []);
  });
});

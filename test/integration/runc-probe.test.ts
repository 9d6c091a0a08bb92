/**
 * The runc probe against this machine's own runc (Debian 12's 1.1.5+ds1-1+deb12u1): the version
 * it reports and the changelog that names the backported CVE-2024-21626 fix.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { probeRunc } from "../../agent/src/adapters/process/runc-probe.js";
import { runcExposure } from "../../agent/src/core/host/runc-advisories.js";

describe("probeRunc on this host", () => {
  it("reads runc's version and its Debian changelog, so the backported fix counts", async () => {
    const facts = await probeRunc();
    assert.match(facts.versionOutput, /^runc version 1\.1\.5\+ds1$/m);
    assert.match(facts.changelog ?? "", /CVE-2024-21626/);
    const e = runcExposure(facts.versionOutput, facts.changelog);
    assert.deepEqual(e.open.map((a) => `${a.id} ${a.vector}`), ["CVE-2024-45310 image", "CVE-2025-31133 image", "CVE-2025-52565 image", "CVE-2025-52881 image"]);
  });

  it("fails with the reason when runc is not there, and reads no changelog that is not there", async () => {
    await assert.rejects(probeRunc({ binary: "/nonexistent/runc" }), /nonexistent\/runc|ENOENT/);
    const facts = await probeRunc({ changelogs: ["/nonexistent/changelog.gz"] });
    assert.equal(facts.changelog, null);
  });
});

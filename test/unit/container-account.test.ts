import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { AccountIdTaken, planAccount, podAccountId, POD_ID_BASE } from "../../agent/src/core/container/account-plan.js";

const DEBIAN_PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const DEBIAN_GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
users:x:100:
nogroup:x:65534:
`;
const ID = 101_005;

describe("podAccountId", () => {
  it("is 100000 + the host uid: distinct host accounts get distinct ids, all above every host range", () => {
    assert.equal(POD_ID_BASE, 100_000);
    assert.equal(podAccountId(1005), 101_005);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 99_999 }), fc.integer({ min: 1, max: 99_999 }), (a, b) => {
        assert.ok(podAccountId(a) > 65_534, "above nobody, systemd's dynamic range and Debian's UID_MAX");
        assert.equal(podAccountId(a) === podAccountId(b), a === b);
      }),
    );
  });

  it("refuses uid 0, negative, fractional and ids past the last valid uid", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 4_294_967_294 - 100_000 + 1]) assert.throws(() => podAccountId(bad), RangeError, String(bad));
    assert.equal(podAccountId(4_294_967_294 - 100_000), 4_294_967_294);
  });
});

describe("planAccount", () => {
  it("gives the user uid = gid = their own id, /home/<user> and bash, appended to the image's files", () => {
    const plan = planAccount("alice", DEBIAN_PASSWD, DEBIAN_GROUP, true, ID);
    assert.deepEqual(plan.account, { name: "alice", uid: ID, gid: ID, home: "/home/alice", shell: "/bin/bash" });
    assert.equal(plan.passwd, DEBIAN_PASSWD + `alice:x:${ID}:${ID}:podspawn user:/home/alice:/bin/bash\n`);
    assert.equal(plan.group, DEBIAN_GROUP + `alice:x:${ID}:\n`);
  });

  it("falls back to /bin/sh without bash", () => {
    assert.equal(planAccount("alice", DEBIAN_PASSWD, DEBIAN_GROUP, false, ID).account.shell, "/bin/sh");
  });

  it("two users on one image get two different ids (the finding: one uid for everyone)", () => {
    const a = planAccount("alice", DEBIAN_PASSWD, DEBIAN_GROUP, true, podAccountId(1001));
    const b = planAccount("bob", DEBIAN_PASSWD, DEBIAN_GROUP, true, podAccountId(1002));
    assert.notEqual(a.account.uid, b.account.uid);
    assert.notEqual(a.account.gid, b.account.gid);
  });

  it("keeps the home and shell of an entry of the same name the image brings, but not its ids", () => {
    const passwd = DEBIAN_PASSWD + "alice:x:1200:1200:Alice:/srv/alice:/bin/zsh\n";
    const group = DEBIAN_GROUP + "alice:x:1200:\n";
    const plan = planAccount("alice", passwd, group, true, ID);
    assert.deepEqual(plan.account, { name: "alice", uid: ID, gid: ID, home: "/srv/alice", shell: "/bin/zsh" });
    assert.equal(plan.passwd, DEBIAN_PASSWD + `alice:x:${ID}:${ID}:podspawn user:/srv/alice:/bin/zsh\n`);
    assert.equal(plan.group, DEBIAN_GROUP + `alice:x:${ID}:\n`);
  });

  it("writes nothing when the image already has exactly the user's entries (a recreated container of a podspawn-built image)", () => {
    const passwd = DEBIAN_PASSWD + `alice:x:${ID}:${ID}:podspawn user:/home/alice:/bin/bash\n`;
    const group = DEBIAN_GROUP + `alice:x:${ID}:\n`;
    const plan = planAccount("alice", passwd, group, true, ID);
    assert.equal(plan.passwd, null);
    assert.equal(plan.group, null);
  });

  it("refuses an image whose other user or group already holds the id, naming it", () => {
    assert.throws(() => planAccount("alice", DEBIAN_PASSWD + `svc:x:${ID}:1:::\n`, DEBIAN_GROUP, true, ID), (e: unknown) => e instanceof AccountIdTaken && e.id === ID && e.holder === 'user "svc"');
    assert.throws(() => planAccount("alice", DEBIAN_PASSWD, DEBIAN_GROUP + `staff2:x:${ID}:\n`, true, ID), (e: unknown) => e instanceof AccountIdTaken && e.holder === 'group "staff2"');
  });

  it("does not take a longer name for the user (al vs alice)", () => {
    const plan = planAccount("al", DEBIAN_PASSWD + "alice:x:1200:1200::/home/alice:/bin/bash\n", DEBIAN_GROUP, true, ID);
    assert.equal(plan.account.home, "/home/al");
    assert.match(plan.passwd ?? "", /^alice:x:1200:1200::\/home\/alice:\/bin\/bash$/m);
  });

  it("adds a missing trailing newline and works without /etc/group", () => {
    const plan = planAccount("alice", DEBIAN_PASSWD.trimEnd(), "", true, ID);
    assert.equal(plan.passwd, DEBIAN_PASSWD + `alice:x:${ID}:${ID}:podspawn user:/home/alice:/bin/bash\n`);
    assert.equal(plan.group, `alice:x:${ID}:\n`);
  });

  it("keeps every other line, and leaves exactly one entry for the user (property)", () => {
    const names = fc.uniqueArray(fc.stringMatching(/^[a-z]{1,6}$/), { maxLength: 20 });
    fc.assert(
      fc.property(names, fc.integer({ min: 0, max: 60_000 }), (others, base) => {
        const lines = others.map((n, i) => `${n}:x:${base + i}:${base + i}::/home/${n}:/bin/sh`);
        const passwd = lines.join("\n") + (lines.length ? "\n" : "");
        const plan = planAccount("alice", passwd, "", false, ID);
        const out = (plan.passwd ?? passwd).split("\n");
        for (const l of lines) if (!l.startsWith("alice:")) assert.ok(out.includes(l));
        assert.equal(out.filter((l) => l.startsWith("alice:")).length, 1);
      }),
    );
  });
});

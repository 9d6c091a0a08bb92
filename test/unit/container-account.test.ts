import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { planAccount } from "../../agent/src/core/container/account-plan.js";

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
const UBUNTU_PASSWD = DEBIAN_PASSWD + "ubuntu:x:70000:70000:Ubuntu:/home/ubuntu:/bin/bash\n";
const UBUNTU_GROUP = DEBIAN_GROUP + "ubuntu:x:70000:\n";

describe("planAccount", () => {
  it("gives a fresh debian-like image's user uid/gid 70000 (FIRST_POD_ID), /home/<user> and bash", () => {
    const plan = planAccount("alice", DEBIAN_PASSWD, DEBIAN_GROUP, true);
    assert.deepEqual(plan.account, { name: "alice", uid: 70000, gid: 70000, home: "/home/alice", shell: "/bin/bash" });
    assert.equal(plan.passwd, DEBIAN_PASSWD + "alice:x:70000:70000:podspawn user:/home/alice:/bin/bash\n");
    assert.equal(plan.group, DEBIAN_GROUP + "alice:x:70000:\n");
  });

  it("uses /bin/sh when the image has no bash", () => {
    const plan = planAccount("alice", DEBIAN_PASSWD, DEBIAN_GROUP, false);
    assert.equal(plan.account.shell, "/bin/sh");
    assert.ok(plan.passwd?.endsWith(":/home/alice:/bin/sh\n"));
  });

  it("takes the next free uid and gid when the first pod id is taken by an image account", () => {
    const plan = planAccount("alice", UBUNTU_PASSWD, UBUNTU_GROUP, true);
    assert.equal(plan.account.uid, 70001);
    assert.equal(plan.account.gid, 70001);
    assert.equal(plan.passwd, UBUNTU_PASSWD + "alice:x:70001:70001:podspawn user:/home/alice:/bin/bash\n");
    assert.equal(plan.group, UBUNTU_GROUP + "alice:x:70001:\n");
  });

  it("skips a uid taken in passwd even when its gid is free in group", () => {
    const plan = planAccount("alice", UBUNTU_PASSWD, DEBIAN_GROUP, true);
    assert.equal(plan.account.gid, 70000);
    assert.equal(plan.account.uid, 70001);
  });

  it("reuses an existing entry of the same name without rewriting either file", () => {
    const passwd = DEBIAN_PASSWD + "alice:x:1500:1600:Alice:/srv/alice:/bin/zsh\n";
    const plan = planAccount("alice", passwd, DEBIAN_GROUP, true);
    assert.deepEqual(plan.account, { name: "alice", uid: 1500, gid: 1600, home: "/srv/alice", shell: "/bin/zsh" });
    assert.equal(plan.passwd, null);
    assert.equal(plan.group, null);
  });

  it("fills in home and shell for an existing entry that leaves them empty", () => {
    const plan = planAccount("alice", "alice:x:1200:1200:::\n", "", false);
    assert.deepEqual(plan.account, { name: "alice", uid: 1200, gid: 1200, home: "/home/alice", shell: "/bin/sh" });
    assert.equal(plan.passwd, null);
  });

  it("does not mistake a user whose name merely starts with the pod user's name", () => {
    const plan = planAccount("al", DEBIAN_PASSWD + "alice:x:70000:70000::/home/alice:/bin/bash\n", DEBIAN_GROUP + "alice:x:70000:\n", true);
    assert.equal(plan.account.uid, 70001);
    assert.equal(plan.account.home, "/home/al");
    assert.notEqual(plan.passwd, null);
  });

  it("reuses an existing group of the same name and leaves the group file alone", () => {
    const plan = planAccount("alice", DEBIAN_PASSWD, DEBIAN_GROUP + "alice:x:1234:\n", true);
    assert.equal(plan.account.gid, 1234);
    assert.equal(plan.account.uid, 1234);
    assert.equal(plan.group, null);
    assert.ok(plan.passwd?.endsWith("alice:x:1234:1234:podspawn user:/home/alice:/bin/bash\n"));
  });

  it("adds a newline before the new line when the file lacks a trailing newline", () => {
    const plan = planAccount("alice", DEBIAN_PASSWD.trimEnd(), DEBIAN_GROUP.trimEnd(), true);
    assert.equal(plan.passwd, DEBIAN_PASSWD + "alice:x:70000:70000:podspawn user:/home/alice:/bin/bash\n");
    assert.equal(plan.group, DEBIAN_GROUP + "alice:x:70000:\n");
  });

  it("writes a group file from scratch when the image has an empty one", () => {
    const plan = planAccount("alice", DEBIAN_PASSWD, "", true);
    assert.equal(plan.account.gid, 70000);
    assert.equal(plan.group, "alice:x:70000:\n");
  });

  it("never picks a uid or gid below FIRST_POD_ID or already in use (property)", () => {
    const idList = fc.uniqueArray(fc.integer({ min: 0, max: 1100 }), { maxLength: 40 });
    fc.assert(
      fc.property(idList, idList, (uids, gids) => {
        const passwd = uids.map((u, i) => `u${i}:x:${u}:${u}::/home/u${i}:/bin/sh`).join("\n");
        const group = gids.map((g, i) => `g${i}:x:${g}:`).join("\n");
        const { account, passwd: newPasswd, group: newGroup } = planAccount("alice", passwd, group, false);
        assert.ok(account.uid >= 70000 && account.gid >= 70000);
        assert.ok(!uids.includes(account.uid));
        assert.ok(!gids.includes(account.gid));
        // The original lines survive unchanged, followed by exactly one new line.
        assert.ok(newPasswd?.startsWith(passwd));
        assert.equal(newPasswd?.split("\n").filter((l) => l.startsWith("alice:")).length, 1);
        assert.ok(newGroup?.startsWith(group));
      }),
    );
  });
});

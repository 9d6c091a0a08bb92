import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { HostAccounts } from "../../agent/src/adapters/accounts/host-accounts.js";

/**
 * One contract for HostAccounts: the shadow-utils adapter (integration, as root, real accounts)
 * and the in-memory fake the admin use cases are unit-tested with both run it.
 */
export interface AccountsTarget {
  readonly accounts: HostAccounts;
  /** A unique prefix for every name the suite creates (<= 8 chars, valid in a username). */
  readonly prefix: string;
  /** Remove what the suite made (the real host keeps accounts otherwise). */
  readonly cleanup: (users: readonly string[], groups: readonly string[]) => Promise<void>;
}

export function accountsConformance(name: string, target: () => AccountsTarget): void {
  describe(`HostAccounts conformance: ${name}`, () => {
    const users: string[] = [];
    const groups: string[] = [];
    const n = (suffix: string): string => `${target().prefix}-${suffix}`;
    after(() => target().cleanup(users, groups));

    it("reports a missing account and group as null", async () => {
      assert.equal(await target().accounts.getUser(n("none")), null);
      assert.equal(await target().accounts.getGroup(n("none")), null);
    });

    it("ensureGroup creates a group once", async () => {
      const g = n("grp");
      groups.push(g);
      assert.equal(await target().accounts.ensureGroup(g), true);
      assert.equal(await target().accounts.ensureGroup(g), false);
      const info = await target().accounts.getGroup(g);
      assert.equal(info?.name, g);
      assert.ok(Number.isInteger(info?.gid));
    });

    it("creates a pod user with its own group, the users group, /bin/sh and home /", async () => {
      const u = n("pod");
      users.push(u);
      await target().accounts.createPodUser(u, n("grp"));
      const info = await target().accounts.getUser(u);
      assert.equal(info?.shell, "/bin/sh");
      assert.equal(info?.home, "/");
      assert.deepEqual([...(info?.groups ?? [])].sort(), [n("grp"), u].sort());
      assert.equal((await target().accounts.getGroup(u))?.gid, info?.gid, "the primary group is the user's own");
      assert.deepEqual(info?.primaryGroup, { name: u, members: [], sharedBy: [] }, "and private: no member, no other account on it");
    });

    it("refuses to create an account that exists, or one in a group that does not", async () => {
      await assert.rejects(target().accounts.createPodUser(n("pod"), n("grp")));
      await assert.rejects(target().accounts.createPodUser(n("nogrp"), n("missing")));
      assert.equal(await target().accounts.getUser(n("nogrp")), null, "nothing half-made is left");
    });

    it("deletes an account, and refuses to delete one that does not exist", async () => {
      await target().accounts.deleteUser(n("pod"));
      assert.equal(await target().accounts.getUser(n("pod")), null);
      await assert.rejects(target().accounts.deleteUser(n("pod")));
    });

    it("ensureServiceUser creates a no-login account with its own group once", async () => {
      const u = n("svc");
      users.push(u);
      assert.equal(await target().accounts.ensureServiceUser(u), true);
      assert.equal(await target().accounts.ensureServiceUser(u), false);
      const info = await target().accounts.getUser(u);
      assert.equal(info?.shell, "/usr/sbin/nologin");
      assert.notEqual(await target().accounts.getGroup(u), null);
    });
  });
}

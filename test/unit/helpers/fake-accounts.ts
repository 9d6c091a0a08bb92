import { AccountError, type AccountInfo, type GroupInfo, type HostAccounts } from "../../../agent/src/adapters/accounts/host-accounts.js";

/**
 * Host accounts in memory, for the admin use cases' unit tests. It passes the same conformance
 * suite as the real shadow-utils adapter (test/conformance/host-accounts-conformance.ts).
 */
export class FakeAccounts implements HostAccounts {
  /** Accounts as /etc/passwd has them; the primary group facts are derived on getUser. */
  readonly users = new Map<string, Omit<AccountInfo, "primaryGroup">>();
  readonly groups = new Map<string, GroupInfo>();
  /** Mutating calls in order, e.g. "createPodUser alice"; may be shared with other fakes. */
  constructor(readonly calls: string[] = []) {}
  /** Groups a new pod user also lands in (a site's useradd EXTRA_GROUPS). */
  extraGroups: string[] = [];
  /** The next call of this method fails with this message. */
  failNext: { method: keyof HostAccounts; message: string } | null = null;
  private nextId = 70_000;

  private maybeFail(method: keyof HostAccounts): void {
    if (this.failNext?.method !== method) return;
    const { message } = this.failNext;
    this.failNext = null;
    throw new AccountError(message);
  }

  private addGroup(name: string): GroupInfo {
    const group = { name, gid: this.nextId++, members: [] };
    this.groups.set(name, group);
    return group;
  }

  async getUser(name: string): Promise<AccountInfo | null> {
    this.maybeFail("getUser");
    const u = this.users.get(name);
    if (!u) return null;
    const group = [...this.groups.values()].find((g) => g.gid === u.gid);
    const sharedBy = [...this.users.values()].filter((o) => o.name !== name && o.gid === u.gid).map((o) => o.name);
    return { ...u, primaryGroup: { name: group?.name ?? null, members: group?.members ?? [], sharedBy } };
  }

  async getGroup(name: string): Promise<GroupInfo | null> {
    this.maybeFail("getGroup");
    return this.groups.get(name) ?? null;
  }

  async createPodUser(name: string, usersGroup: string): Promise<void> {
    this.calls.push(`createPodUser ${name}`);
    this.maybeFail("createPodUser");
    if (this.users.has(name)) throw new AccountError(`useradd: user '${name}' already exists`);
    for (const g of [usersGroup, ...this.extraGroups]) if (!this.groups.has(g)) throw new AccountError(`useradd: group '${g}' does not exist`);
    const own = this.addGroup(name);
    this.users.set(name, { name, uid: own.gid, gid: own.gid, home: "/", shell: "/bin/sh", groups: [name, usersGroup, ...this.extraGroups] });
  }

  async deleteUser(name: string): Promise<void> {
    this.calls.push(`deleteUser ${name}`);
    this.maybeFail("deleteUser");
    if (!this.users.delete(name)) throw new AccountError(`userdel: user '${name}' does not exist`);
    this.groups.delete(name);
  }

  async ensureGroup(name: string): Promise<boolean> {
    if (this.groups.has(name)) return false;
    this.addGroup(name);
    return true;
  }

  async ensureServiceUser(name: string): Promise<boolean> {
    if (this.users.has(name)) return false;
    const own = this.addGroup(name);
    this.users.set(name, { name, uid: own.gid, gid: own.gid, home: "/nonexistent", shell: "/usr/sbin/nologin", groups: [name] });
    return true;
  }

  /** An account made by hand with `name`'s primary group as its own primary group too. */
  addAccountOnGroupOf(name: string, other: string): void {
    const u = this.users.get(name);
    if (!u) throw new Error(`no account ${name}`);
    this.users.set(other, { name: other, uid: this.nextId++, gid: u.gid, home: "/", shell: "/bin/sh", groups: [name] });
  }

  /** An account someone else made by hand, outside podspawn. */
  addForeignUser(name: string, groups: readonly string[] = []): void {
    const own = this.addGroup(name);
    this.users.set(name, { name, uid: own.gid, gid: own.gid, home: `/home/${name}`, shell: "/bin/bash", groups: [name, ...groups] });
  }
}

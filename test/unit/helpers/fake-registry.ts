import type { UserRegistry } from "../../../agent/src/admin/deps.js";
import type { Outcome } from "../../../agent/src/adapters/fs/atomic-file.js";
import type { PublicKey } from "../../../agent/src/core/users/keys.js";

const same = (a: readonly PublicKey[] | undefined, b: readonly PublicKey[]): boolean => a !== undefined && a.length === b.length && a.every((k, i) => k.fingerprint === b[i]?.fingerprint);

/**
 * The key registry in memory. It passes the same conformance suite as the files on disk
 * (test/conformance/user-registry-conformance.ts).
 */
export class FakeRegistry implements UserRegistry {
  readonly keys = new Map<string, { keys: readonly PublicKey[]; gid: number }>();
  readonly authorized = new Map<string, { keys: readonly PublicKey[]; gid: number }>();
  missing: string[] = [];
  failNext: { method: "writeKeys" | "writeAuthorized" | "remove"; message: string } | null = null;

  /** Writes and removals in order, e.g. "writeKeys alice"; may be shared with other fakes. */
  constructor(readonly calls: string[] = []) {}

  private maybeFail(method: "writeKeys" | "writeAuthorized" | "remove"): void {
    if (this.failNext?.method !== method) return;
    const { message } = this.failNext;
    this.failNext = null;
    throw new Error(message);
  }

  async read(): Promise<Map<string, PublicKey[]>> {
    const names = [...this.keys.keys()].sort();
    return new Map(names.map((n) => [n, [...(this.keys.get(n)?.keys ?? [])]]));
  }

  private static put(map: Map<string, { keys: readonly PublicKey[]; gid: number }>, user: string, keys: readonly PublicKey[], gid: number): Outcome {
    const before = map.get(user);
    map.set(user, { keys: [...keys], gid });
    if (!before) return "created";
    return same(before.keys, keys) && before.gid === gid ? "unchanged" : "updated";
  }

  async writeKeys(user: string, keys: readonly PublicKey[], keysGid: number): Promise<Outcome> {
    this.calls.push(`writeKeys ${user}`);
    this.maybeFail("writeKeys");
    return FakeRegistry.put(this.keys, user, keys, keysGid);
  }

  async writeAuthorized(user: string, keys: readonly PublicKey[], userGid: number): Promise<Outcome> {
    this.calls.push(`writeAuthorized ${user}`);
    this.maybeFail("writeAuthorized");
    return FakeRegistry.put(this.authorized, user, keys, userGid);
  }

  async remove(user: string): Promise<boolean> {
    this.calls.push(`remove ${user}`);
    this.maybeFail("remove");
    const a = this.authorized.delete(user);
    const b = this.keys.delete(user);
    return a || b;
  }

  async missingDirs(): Promise<string[]> {
    return [...this.missing];
  }
}

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UserRegistry } from "../../agent/src/admin/deps.js";
import { parsePublicKey } from "../../agent/src/core/users/keys.js";
import { freshEd25519 } from "../unit/helpers/test-keys.js";

/**
 * One contract for the key registry: the files on disk (integration, as root: they are chowned)
 * and the in-memory fake the admin use cases are unit-tested with both run it.
 */
export interface RegistryTarget {
  /** A registry whose directories exist and hold nothing. */
  readonly fresh: () => Promise<UserRegistry>;
  /** A registry whose directories `podspawn install` has not made; names the missing ones. */
  readonly uninstalled: () => Promise<{ registry: UserRegistry; missing: readonly string[] }>;
}

const key = () => parsePublicKey(freshEd25519());

export function registryConformance(name: string, target: () => RegistryTarget): void {
  describe(`UserRegistry conformance: ${name}`, () => {
    it("is empty when fresh, with nothing missing", async () => {
      const r = await target().fresh();
      assert.equal((await r.read()).size, 0);
      assert.deepEqual(await r.missingDirs(), []);
    });

    it("names the directories install has not made", async () => {
      const { registry, missing } = await target().uninstalled();
      assert.deepEqual(await registry.missingDirs(), missing);
      assert.ok(missing.length > 0);
    });

    it("writes keys: created, then unchanged for the same keys, updated for others; read returns them in order", async () => {
      const r = await target().fresh();
      const [a, b] = [key(), key()];
      assert.equal(await r.writeKeys("alice", [a, b], 0), "created");
      assert.equal(await r.writeKeys("alice", [a, b], 0), "unchanged");
      assert.deepEqual((await r.read()).get("alice")?.map((k) => k.fingerprint), [a.fingerprint, b.fingerprint]);
      assert.equal(await r.writeKeys("alice", [b], 0), "updated");
      assert.deepEqual((await r.read()).get("alice")?.map((k) => k.fingerprint), [b.fingerprint]);
    });

    it("writes the authorized file without making a registry entry", async () => {
      const r = await target().fresh();
      assert.equal(await r.writeAuthorized("bob", [key()], 0), "created");
      assert.equal((await r.read()).has("bob"), false);
    });

    it("removes a user's files, true only when there was something", async () => {
      const r = await target().fresh();
      await r.writeKeys("carol", [key()], 0);
      await r.writeAuthorized("carol", [key()], 0);
      await r.writeAuthorized("dave", [key()], 0);
      assert.equal(await r.remove("carol"), true);
      assert.equal((await r.read()).has("carol"), false);
      assert.equal(await r.remove("carol"), false);
      assert.equal(await r.remove("dave"), true, "an authorized file alone counts");
    });

    it("lists users sorted by name", async () => {
      const r = await target().fresh();
      for (const u of ["zed", "amy", "max"]) await r.writeKeys(u, [key()], 0);
      assert.deepEqual([...(await r.read()).keys()], ["amy", "max", "zed"]);
    });
  });
}

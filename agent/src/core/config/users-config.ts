import * as z from "zod";
import { formatPublicKey, parsePublicKey, type PublicKey } from "../users/keys.js";
import { MAX_KEYS_PER_USER, MAX_REGISTRY_BYTES, registryCapProblem } from "../users/key-registry.js";
import { validateUsername } from "../users/username.js";
import { hint, parseYamlWith, refuse, via, type DeepReadonly } from "./schema-kit.js";

/**
 * The GitOps users file (`users.yaml`): who may log in to a node and with which keys. Parsed in
 * full before anything is applied, so a typo never half-applies. Errors carry the file, line and
 * path: `users.yaml:7: users[1].keys[0]: malformed ssh-ed25519 key: ...`.
 *
 *   version: 1
 *   users:
 *     - name: alice
 *       keys:
 *         - ssh-ed25519 AAAA... alice@laptop
 */

const KEY_LINE = hint(z.string(), { what: "a key line", allowed: "an OpenSSH public key line: '<type> <base64> [comment]'" });

const USER = z.strictObject({
  name: hint(z.string(), { allowed: "a pod username" }).transform(via((n: string) => validateUsername(n, "name"))),
  keys: hint(z.array(KEY_LINE.transform(via((k: string) => parsePublicKey(k, "key")))).min(1), { allowed: "a non-empty list of public keys" }),
});

/** Names are unique, and a key belongs to one user (else who logs in with it is a guess). */
function checkUnique(users: readonly { name: string; keys: readonly PublicKey[] }[], ctx: z.core.$RefinementCtx<unknown>): void {
  const byName = new Map<string, number>();
  const owner = new Map<string, string>();
  users.forEach((u, i) => {
    const earlier = byName.get(u.name);
    if (earlier !== undefined) refuse(ctx, `${JSON.stringify(u.name)} is already listed at users[${earlier}]`, { allowed: "each user once", path: [i, "name"] });
    byName.set(u.name, i);
    const over = registryCapProblem(u.keys);
    if (over) refuse(ctx, over, { allowed: `at most ${MAX_KEYS_PER_USER} keys and ${MAX_REGISTRY_BYTES} bytes of keys per user`, path: [i, "keys"] });
    u.keys.forEach((key, j) => {
      const other = owner.get(key.fingerprint);
      if (other !== undefined && other !== u.name) refuse(ctx, `key ${key.fingerprint} is already listed for ${JSON.stringify(other)}`, { allowed: "each key belongs to one user", path: [i, "keys", j] });
      owner.set(key.fingerprint, u.name);
    });
  });
}

/** Canonical `type base64` lines, without options or comments, first occurrence kept. */
function canonicalKeys(keys: readonly PublicKey[]): string[] {
  const seen = new Set<string>();
  return keys.filter((k) => !seen.has(k.fingerprint) && seen.add(k.fingerprint)).map(formatPublicKey);
}

export const USERS_CONFIG_SCHEMA = z
  .strictObject({
    version: z.literal(1),
    users: hint(z.array(USER), { allowed: "a list of users: name and keys" }).superRefine(checkUnique),
  })
  .transform((c) => ({ version: c.version, users: c.users.map((u) => ({ name: u.name, keys: canonicalKeys(u.keys) })) }));

export type UsersConfig = DeepReadonly<z.output<typeof USERS_CONFIG_SCHEMA>>;
export type UserEntry = UsersConfig["users"][number];

/** users.yaml can list many users with several keys each; 4 MiB is far beyond any real one. */
const MAX_BYTES = 4 * 1024 * 1024;

export function parseUsersConfig(text: string, file: string): UsersConfig {
  return parseYamlWith(USERS_CONFIG_SCHEMA, text, file, { maxBytes: MAX_BYTES });
}

import { formatPublicKey, parseKeyFile, uniqueKeys, type PublicKey } from "./keys.js";

/**
 * The key registry file `<usersDir>/<user>.keys`: one canonical `type base64` line per key. It is
 * the source of truth; the rendered AuthorizedKeysFile and `auth-keys` output derive from it.
 * Reading re-parses every line so a hand-edited or damaged file fails loudly instead of granting
 * something odd.
 */
export function parseRegistry(text: string, file: string): PublicKey[] {
  return parseKeyFile(text, file);
}

export function formatRegistry(keys: readonly PublicKey[]): string {
  return uniqueKeys(keys).map((k) => formatPublicKey(k) + "\n").join("");
}

export const REGISTRY_SUFFIX = ".keys";
/** Registry files larger than this are refused: nobody has thousands of keys. */
export const MAX_REGISTRY_BYTES = 1024 * 1024;
/** Keys one user may have. Far above any real need, far below the read cap. */
export const MAX_KEYS_PER_USER = 100;

/**
 * Why these keys must not be written as one user's registry, or null. Checked on WRITE: a file
 * over the read cap would make every later read fail, and with it every admin change on the
 * node, including the revocation that was meant to fix it.
 */
export function registryCapProblem(keys: readonly PublicKey[]): string | null {
  const unique = uniqueKeys(keys);
  if (unique.length > MAX_KEYS_PER_USER) return `${unique.length} keys is more than ${MAX_KEYS_PER_USER} per user`;
  const bytes = Buffer.byteLength(formatRegistry(unique));
  if (bytes > MAX_REGISTRY_BYTES) return `the keys take ${bytes} bytes, more than ${MAX_REGISTRY_BYTES} per user`;
  return null;
}

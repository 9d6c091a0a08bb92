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

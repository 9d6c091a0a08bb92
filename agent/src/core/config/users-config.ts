import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import { InputError } from "../errors.js";
import { formatPublicKey, parsePublicKey, type PublicKey } from "../users/keys.js";
import { validateUsername } from "../users/username.js";

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
export interface UsersConfig {
  readonly version: 1;
  readonly users: readonly UserEntry[];
}
export interface UserEntry {
  readonly name: string;
  /** Canonical `type base64`, without options or comments, no repeats. */
  readonly keys: readonly string[];
}

export function parseUsersConfig(text: string, file: string): UsersConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (node: Node | null | undefined, path: string): string => {
    const offset = node?.range?.[0];
    return offset === undefined ? `${file}: ${path}` : `${file}:${lineCounter.linePos(offset).line}: ${path}`;
  };
  const firstError = doc.errors[0];
  if (firstError) {
    const line = lineCounter.linePos(firstError.pos[0]).line;
    throw new InputError(`${file}:${line}`, `not valid YAML: ${firstError.message.split("\n")[0] ?? ""}`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new InputError(at(root, "(top level)"), "expected a mapping with version and users");
  checkKeys(root, ["version", "users"], (n, k) => at(n, k), "");
  const version = root.get("version", true) as Node | undefined;
  if (!isScalar(version) || version.value !== 1) throw new InputError(at(version ?? root, "version"), `expected 1, got ${describe(version)}`);
  const users = root.get("users", true) as Node | undefined;
  if (!isSeq(users)) throw new InputError(at(users ?? root, "users"), `expected a list, got ${describe(users)}`);

  const out: UserEntry[] = [];
  const byName = new Map<string, string>();
  const owner = new Map<string, string>();
  users.items.forEach((item, i) => {
    const p = `users[${i}]`;
    if (!isMap(item)) throw new InputError(at(item as Node, p), `expected a mapping with name and keys, got ${describe(item)}`);
    checkKeys(item, ["name", "keys"], (n, k) => at(n, k), `${p}.`);
    const nameNode = item.get("name", true) as Node | undefined;
    if (!isScalar(nameNode)) throw new InputError(at(nameNode ?? item, `${p}.name`), `expected a string, got ${describe(nameNode)}`);
    const name = wrap(nameNode, `${p}.name`, at, () => validateUsername(nameNode.value, "name"));
    const earlier = byName.get(name);
    if (earlier) throw new InputError(at(nameNode, `${p}.name`), `${JSON.stringify(name)} is already listed at ${earlier}`);
    byName.set(name, p);
    const keysNode = item.get("keys", true) as Node | undefined;
    if (!isSeq(keysNode) || keysNode.items.length === 0) throw new InputError(at(keysNode ?? item, `${p}.keys`), `expected a non-empty list of public keys, got ${describe(keysNode)}`);
    const keys: PublicKey[] = [];
    keysNode.items.forEach((k, j) => {
      const kp = `${p}.keys[${j}]`;
      if (!isScalar(k) || typeof k.value !== "string") throw new InputError(at(k as Node, kp), `expected a key line, got ${describe(k)}`);
      const key = wrap(k, kp, at, () => parsePublicKey(k.value as string, "key"));
      const other = owner.get(key.fingerprint);
      if (other !== undefined && other !== name) throw new InputError(at(k, kp), `key ${key.fingerprint} is already listed for ${JSON.stringify(other)}`, "each key belongs to one user");
      owner.set(key.fingerprint, name);
      if (!keys.some((seen) => seen.fingerprint === key.fingerprint)) keys.push(key);
    });
    out.push({ name, keys: keys.map(formatPublicKey) });
  });
  return { version: 1, users: out };
}

/** Re-throw a validator's InputError with the file position and path in front of its problem. */
function wrap<T>(node: Node, path: string, at: (n: Node, p: string) => string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InputError) throw new InputError(at(node, path), err.problem, err.allowed);
    throw err;
  }
}

function checkKeys(map: { items: { key: unknown }[] }, allowed: readonly string[], at: (n: Node, p: string) => string, prefix: string): void {
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (!allowed.includes(key)) throw new InputError(at(pair.key as Node, `${prefix}${key}`), "unknown field", allowed.join(", "));
  }
}

function describe(node: unknown): string {
  if (node === undefined || node === null) return "nothing";
  if (isScalar(node)) return node.value === null ? "null" : `${typeof node.value} ${JSON.stringify(node.value)}`;
  if (isSeq(node)) return "a list";
  if (isMap(node)) return "a mapping";
  return "something else";
}

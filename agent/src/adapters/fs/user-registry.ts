import { readdir, readFile } from "node:fs/promises";
import { renderAuthorizedKeys } from "../../core/users/authorized-line.js";
import { formatRegistry, MAX_REGISTRY_BYTES, parseRegistry, registryCapProblem, REGISTRY_SUFFIX } from "../../core/users/key-registry.js";
import type { PublicKey } from "../../core/users/keys.js";
import type { Layout } from "../../core/host/layout.js";
import { isValidUsername } from "../../core/users/username.js";
import { ensureFile, removeFile, type Outcome } from "./atomic-file.js";

/**
 * The key registry on disk: `<usersDir>/<user>.keys` (root:keys-user 0640, read by auth-keys) and
 * the rendered `<authorizedKeysDir>/<user>` (root:<user's group> 0640: sshd reads an
 * AuthorizedKeysFile with the user's privileges and, with StrictModes, wants it root- or
 * user-owned and not writable by others).
 */

export function registryPath(layout: Layout, user: string): string {
  return `${layout.usersDir}/${user}${REGISTRY_SUFFIX}`;
}
export function authorizedFilePath(layout: Layout, user: string): string {
  return `${layout.authorizedKeysDir}/${user}`;
}

/** Names with a registry file, sorted. Files that are not `<valid name>.keys` are ignored. */
export async function listRegistryUsers(layout: Layout): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(layout.usersDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return names
    .filter((n) => n.endsWith(REGISTRY_SUFFIX))
    .map((n) => n.slice(0, -REGISTRY_SUFFIX.length))
    .filter(isValidUsername)
    .sort();
}

export async function readUserKeys(layout: Layout, user: string): Promise<PublicKey[] | null> {
  const path = registryPath(layout, user);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  if (buf.length > MAX_REGISTRY_BYTES) throw new Error(`${path} is larger than ${MAX_REGISTRY_BYTES} bytes`);
  return parseRegistry(buf.toString("utf8"), path);
}

/** Every registered user's keys. */
export async function readRegistry(layout: Layout): Promise<Map<string, PublicKey[]>> {
  const out = new Map<string, PublicKey[]>();
  for (const name of await listRegistryUsers(layout)) {
    const keys = await readUserKeys(layout, name);
    if (keys) out.set(name, keys);
  }
  return out;
}

export async function writeUserKeys(layout: Layout, user: string, keys: readonly PublicKey[], keysGid: number): Promise<Outcome> {
  // The admin use-cases refuse this first, with a clear line; a file past the read cap must never exist.
  const over = registryCapProblem(keys);
  if (over) throw new Error(`refusing to write ${registryPath(layout, user)}: ${over}`);
  return ensureFile(registryPath(layout, user), formatRegistry(keys), { mode: 0o640, uid: 0, gid: keysGid });
}

export async function writeAuthorizedFile(layout: Layout, user: string, keys: readonly PublicKey[], userGid: number): Promise<Outcome> {
  return ensureFile(authorizedFilePath(layout, user), renderAuthorizedKeys(layout.command, user, keys), { mode: 0o640, uid: 0, gid: userGid });
}

/** The rendered file goes first: it is what lets sshd in. */
export async function removeUserFiles(layout: Layout, user: string): Promise<boolean> {
  const a = await removeFile(authorizedFilePath(layout, user));
  const b = await removeFile(registryPath(layout, user));
  return a || b;
}

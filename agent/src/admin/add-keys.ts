import { describeError, InputError, UserFacingError } from "../core/errors.js";
import { validateGithubLogin } from "../core/users/github-login.js";
import { parseKeyFile, parsePublicKey, uniqueKeys, type PublicKey } from "../core/users/keys.js";
import { keyConflicts } from "../core/users/user-plan.js";
import { MAX_KEYS_PER_USER, registryCapProblem } from "../core/users/key-registry.js";
import { validateUsername } from "../core/users/username.js";
import { githubKeys, type AccountIdFetcher, type KeysFetcher } from "../adapters/github/github-keys.js";
import { githubIdsPath, type GithubIdStore } from "../adapters/fs/github-ids.js";
import type { AdminDeps, ReadText } from "./deps.js";
import { notifyReload } from "./notify.js";
import { applyPodUser, refuseAccount } from "./pod-account.js";
import { checkInstalled } from "./prerequisites.js";

/**
 * `add-user`: create a pod user or add keys to one. Everything is checked before the first write
 * (the name, every key from every source, key ownership, the host account), so one bad key or a
 * key someone else has changes nothing.
 */

export interface KeySources {
  /** Literal keys, "TYPE BASE64 [comment]". */
  readonly keys: readonly string[];
  /** Files of keys, one per line. */
  readonly keyFiles: readonly string[];
  /** GitHub logins whose published keys to add. */
  readonly github: readonly string[];
}

export interface AddKeysRequest extends KeySources {
  readonly name: string;
}

export interface AddKeysDeps extends AdminDeps {
  readonly readText: ReadText;
  readonly fetchGithub: KeysFetcher;
  /** The numeric account behind a login, and the record of the ones imported before. */
  readonly githubAccountId: AccountIdFetcher;
  readonly githubIds: GithubIdStore;
}

/**
 * Each login's numeric id, refused when it differs from the one recorded at an earlier import:
 * a login renamed away and registered again by someone else would hand us a stranger's keys.
 */
async function checkGithubAccounts(logins: readonly string[], deps: Pick<AddKeysDeps, "githubAccountId" | "githubIds" | "layout">): Promise<Map<string, number>> {
  const recorded = await deps.githubIds.read();
  const ids = new Map<string, number>();
  for (const login of logins) {
    const id = await deps.githubAccountId(login);
    const before = recorded.get(login.toLowerCase());
    if (before !== undefined && before !== id) {
      throw new UserFacingError("github-account-changed", `GitHub login ${login} is now account ${id}, not account ${before} whose keys were imported before (renamed and registered again?); refusing to import its keys. If the new account is right, delete the line '${login.toLowerCase()} ${before}' from the GitHub id record (${githubIdsPath(deps.layout)}) and run this again`);
    }
    ids.set(login.toLowerCase(), id);
  }
  return ids;
}

/** Every key from every source, parsed; throws before anything is written. */
export async function collectKeys(sources: KeySources, deps: Pick<AddKeysDeps, "readText" | "fetchGithub">): Promise<PublicKey[]> {
  // The cheap checks first: a bad login must not cost a network round trip for the others.
  for (const login of sources.github) validateGithubLogin(login);
  const keys = sources.keys.map((k, i) => parsePublicKey(k, `--key #${i + 1}`));
  for (const file of sources.keyFiles) {
    let text: string;
    try {
      text = await deps.readText(file);
    } catch (err) {
      throw new InputError("--key-file", `cannot read ${file}: ${describeError(err)}`);
    }
    const fromFile = parseKeyFile(text, file);
    if (fromFile.length === 0) throw new InputError("--key-file", `${file} contains no keys`);
    keys.push(...fromFile);
  }
  for (const login of sources.github) keys.push(...(await githubKeys(validateGithubLogin(login), deps.fetchGithub)));
  return uniqueKeys(keys);
}

/** Refuse keys someone else already has, naming them. */
export function refuseConflicts(registry: ReadonlyMap<string, readonly PublicKey[]>, user: string, keys: readonly PublicKey[]): void {
  const first = keyConflicts(registry, user, keys)[0];
  if (first) throw new InputError("key", `${first.fingerprint} already belongs to pod user ${JSON.stringify(first.owner)}`, "each key belongs to one user; remove it there first");
}

export async function addKeys(request: AddKeysRequest, deps: AddKeysDeps): Promise<void> {
  const name = validateUsername(request.name, "NAME");
  for (const login of request.github) validateGithubLogin(login);
  const githubIds = await checkGithubAccounts(request.github, deps);
  const keys = await collectKeys(request, deps);
  if (keys.length === 0) throw new InputError("add-user", "no keys given", "at least one --key, --key-file or --github");

  const pre = await checkInstalled(deps);
  const registry = await deps.registry.read();
  refuseConflicts(registry, name, keys);
  refuseAccount(name, await deps.accounts.getUser(name), deps.layout);

  const existing = registry.get(name) ?? [];
  const merged = uniqueKeys([...existing, ...keys]);
  const over = registryCapProblem(merged);
  if (over) throw new InputError("add-user", `${name}: ${existing.length === 0 ? "" : `with the ${existing.length} registered, `}${over}`, `at most ${MAX_KEYS_PER_USER} keys per user; remove some first (sync with a users file)`);
  const added = merged.length - existing.length;
  const result = await applyPodUser(name, merged, pre, deps);
  if (result.createdAccount) deps.say(`created pod user ${name} with ${merged.length} key(s)`);
  else if (added > 0 || result.changedFiles) deps.say(`${name}: added ${added} key(s), now ${merged.length}`);
  else deps.say(`${name}: nothing to change (${merged.length} key(s) already registered)`);
  if (githubIds.size > 0) await deps.githubIds.write(new Map([...(await deps.githubIds.read()), ...githubIds]));
  if (result.createdAccount || result.changedFiles) await notifyReload(deps);
}

import { readFile } from "node:fs/promises";
import { githubFetcher, githubKeys, type KeysFetcher } from "../../../adapters/github/github-keys.js";
import { applyPodUser, checkInstalled, defaultPodUserDeps, notifyReload, refuseAccount, refuseConflicts, type PodUserDeps } from "../../../admin/pod-users.js";
import { readRegistry } from "../../../adapters/fs/user-registry.js";
import { describeError, InputError } from "../../../core/errors.js";
import { validateGithubLogin } from "../../../core/users/github-login.js";
import { parseKeyFile, parsePublicKey, uniqueKeys, type PublicKey } from "../../../core/users/keys.js";
import type { Layout } from "../../../core/host/layout.js";
import { validateUsername } from "../../../core/users/username.js";
import { parseFlags } from "../../args.js";
import type { Command, CommandIo } from "../../command.js";

const USAGE = `Usage: podspawn add-user NAME (--key "TYPE BASE64" | --key-file FILE | --github LOGIN)...

Creates pod user NAME (a host account in group podspawn-users, never in docker) with the given
public keys, or adds keys to an existing pod user. The flags repeat and mix. Every key is checked
before anything is written: one bad key, or a key that belongs to another user, changes nothing.
`;

export interface AddUserDeps {
  readonly podUsers?: (layout: Layout, io: CommandIo) => PodUserDeps;
  readonly fetchGithub?: KeysFetcher;
}

/** Every key from every flag, parsed; throws before anything is written. */
export async function collectKeys(values: { key?: string[]; "key-file"?: string[]; github?: string[] }, fetchGithub: KeysFetcher): Promise<PublicKey[]> {
  const keys: PublicKey[] = [];
  (values.key ?? []).forEach((k, i) => keys.push(parsePublicKey(k, `--key #${i + 1}`)));
  for (const file of values["key-file"] ?? []) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      throw new InputError("--key-file", `cannot read ${file}: ${describeError(err)}`);
    }
    const fromFile = parseKeyFile(text, file);
    if (fromFile.length === 0) throw new InputError("--key-file", `${file} contains no keys`);
    keys.push(...fromFile);
  }
  for (const login of values.github ?? []) keys.push(...(await githubKeys(validateGithubLogin(login), fetchGithub)));
  return uniqueKeys(keys);
}

export function makeAddUserCommand(deps: AddUserDeps = {}): Command {
  return {
    name: "add-user",
    summary: "create a pod user or add keys to one",
    usage: USAGE,
    async run(argv, io) {
      const { values, positionals } = parseFlags(
        "add-user",
        argv,
        { key: { type: "string", multiple: true }, "key-file": { type: "string", multiple: true }, github: { type: "string", multiple: true } },
        true,
      );
      if (positionals.length !== 1) throw new InputError("add-user", `expected one NAME, got ${positionals.length}`, USAGE.split("\n")[0]);
      const name = validateUsername(positionals[0], "NAME");
      // Validate the (cheap) logins before fetching anything.
      for (const login of values.github ?? []) validateGithubLogin(login);
      const keys = await collectKeys(values, deps.fetchGithub ?? githubFetcher());
      if (keys.length === 0) throw new InputError("add-user", "no keys given", "at least one --key, --key-file or --github");

      const podDeps = (deps.podUsers ?? defaultPodUserDeps)(io.layout, io);
      const pre = await checkInstalled(io.layout, podDeps.accounts);
      const registry = await readRegistry(io.layout);
      refuseConflicts(registry, name, keys);
      refuseAccount(name, await podDeps.accounts.getUser(name), io.layout);

      const existing = registry.get(name) ?? [];
      const merged = uniqueKeys([...existing, ...keys]);
      const added = merged.length - existing.length;
      const result = await applyPodUser(io.layout, name, merged, pre, podDeps);
      if (result.createdAccount) podDeps.say(`created pod user ${name} with ${merged.length} key(s)`);
      else if (added > 0 || result.changedFiles) podDeps.say(`${name}: added ${added} key(s), now ${merged.length}`);
      else podDeps.say(`${name}: nothing to change (${merged.length} key(s) already registered)`);
      if (result.createdAccount || result.changedFiles) await notifyReload(podDeps);
      return 0;
    },
  };
}

export const addUserCommand: Command = makeAddUserCommand();

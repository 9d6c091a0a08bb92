import { addKeys, type AddKeysDeps } from "../../../admin/add-keys.js";
import { defaultAdminDeps, readTextFile } from "../../../admin/deps.js";
import { githubAccountIdFetcher, githubFetcher } from "../../../adapters/github/github-keys.js";
import { fsGithubIds } from "../../../adapters/fs/github-ids.js";
import { defineCommand, type Command, type CommandIo } from "../../command.js";

export type AddUserDeps = (io: CommandIo) => AddKeysDeps;

export const defaultAddUserDeps: AddUserDeps = (io) => ({ ...defaultAdminDeps(io.layout, io), readText: readTextFile, fetchGithub: githubFetcher(), githubAccountId: githubAccountIdFetcher(), githubIds: fsGithubIds(io.layout) });

export function makeAddUserCommand(deps: AddUserDeps = defaultAddUserDeps): Command {
  return defineCommand(
    {
      name: "add-user",
      summary: "create a pod user or add keys to one",
      args: [{ name: "NAME", description: "the pod user (a host account in group podspawn-users, never in docker)" }],
      flags: {
        key: { type: "string", multiple: true, value: '"TYPE BASE64"', description: "a public key, as in a .pub file" },
        "key-file": { type: "string", multiple: true, value: "FILE", description: "a file of public keys, one per line" },
        github: { type: "string", multiple: true, value: "LOGIN", description: "the keys a GitHub user publishes (github.com/LOGIN.keys)" },
      },
      description: `Creates pod user NAME with the given public keys, or adds keys to an existing pod user.
At least one key is needed; the flags repeat and mix. Every key is checked before anything is
written: one bad key, or a key that belongs to another user, changes nothing.`,
    },
    async ({ flags, args }, io) => {
      await addKeys({ name: args[0] as string, keys: flags.key, keyFiles: flags["key-file"], github: flags.github }, deps(io));
      return 0;
    },
  );
}

export const addUserCommand: Command = makeAddUserCommand();

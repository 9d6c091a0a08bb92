import { hostAccounts, type HostAccounts } from "../../../adapters/accounts/host-accounts.js";
import { readRegistry } from "../../../adapters/fs/user-registry.js";
import { InputError } from "../../../core/errors.js";
import { parseFlags } from "../../args.js";
import type { Command } from "../../command.js";

const USAGE = `Usage: podspawn list-users [--json]

Lists pod users from the key registry: name, key count and key fingerprints. A user whose host
account is missing is marked (run add-user again to repair it).
`;

export interface UserListing {
  readonly name: string;
  readonly keys: number;
  readonly fingerprints: readonly string[];
  readonly account: boolean;
}

export function makeListUsersCommand(accounts: () => HostAccounts = () => hostAccounts()): Command {
  return {
    name: "list-users",
    summary: "list pod users and their key fingerprints",
    usage: USAGE,
    async run(argv, io) {
      const { values, positionals } = parseFlags("list-users", argv, { json: { type: "boolean", default: false } }, true);
      if (positionals.length > 0) throw new InputError("list-users", "takes no arguments", "--json");
      const acc = accounts();
      const listing: UserListing[] = [];
      for (const [name, keys] of await readRegistry(io.layout)) {
        listing.push({ name, keys: keys.length, fingerprints: keys.map((k) => `${k.fingerprint} (${k.type})`), account: (await acc.getUser(name)) !== null });
      }
      if (values.json) {
        io.stdout.write(JSON.stringify(listing, null, 2) + "\n");
        return 0;
      }
      if (listing.length === 0) {
        io.stdout.write("no pod users\n");
        return 0;
      }
      const width = Math.max(4, ...listing.map((u) => u.name.length));
      io.stdout.write(`${"NAME".padEnd(width)}  KEYS  FINGERPRINTS\n`);
      for (const u of listing) {
        const [first = "", ...rest] = u.fingerprints;
        io.stdout.write(`${u.name.padEnd(width)}  ${String(u.keys).padEnd(4)}  ${first}${u.account ? "" : "  [host account missing]"}\n`);
        for (const fp of rest) io.stdout.write(`${"".padEnd(width)}        ${fp}\n`);
      }
      return 0;
    },
  };
}

export const listUsersCommand: Command = makeListUsersCommand();

import { hostAccounts, type HostAccounts } from "../../../adapters/accounts/host-accounts.js";
import { readRegistry } from "../../../adapters/fs/user-registry.js";
import { defineCommand, type Command } from "../../command.js";

export interface UserListing {
  readonly name: string;
  readonly keys: number;
  readonly fingerprints: readonly string[];
  readonly account: boolean;
}

function renderTable(listing: readonly UserListing[]): string {
  if (listing.length === 0) return "no pod users\n";
  const width = Math.max(4, ...listing.map((u) => u.name.length));
  const lines = [`${"NAME".padEnd(width)}  KEYS  FINGERPRINTS`];
  for (const u of listing) {
    const [first = "", ...rest] = u.fingerprints;
    lines.push(`${u.name.padEnd(width)}  ${String(u.keys).padEnd(4)}  ${first}${u.account ? "" : "  [host account missing]"}`);
    for (const fp of rest) lines.push(`${"".padEnd(width)}        ${fp}`);
  }
  return lines.join("\n") + "\n";
}

export function makeListUsersCommand(accounts: () => HostAccounts = () => hostAccounts()): Command {
  return defineCommand(
    {
      name: "list-users",
      summary: "list pod users and their key fingerprints",
      flags: { json: { type: "boolean", description: "print JSON instead of a table" } },
      description: `Lists pod users from the key registry: name, key count and key fingerprints. A user whose host
account is missing is marked (run add-user again to repair it).`,
    },
    async ({ flags }, io) => {
      const acc = accounts();
      const listing: UserListing[] = [];
      for (const [name, keys] of await readRegistry(io.layout)) {
        listing.push({ name, keys: keys.length, fingerprints: keys.map((k) => `${k.fingerprint} (${k.type})`), account: (await acc.getUser(name)) !== null });
      }
      io.stdout.write(flags.json ? JSON.stringify(listing, null, 2) + "\n" : renderTable(listing));
      return 0;
    },
  );
}

export const listUsersCommand: Command = makeListUsersCommand();

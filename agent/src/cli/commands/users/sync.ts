import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { applyPodUser, checkInstalled, defaultPodUserDeps, notifyReload, refuseAccount, removePodUser, type PodUserDeps } from "../../../admin/pod-users.js";
import { readRegistry } from "../../../adapters/fs/user-registry.js";
import { describeError, InputError } from "../../../core/errors.js";
import { parsePublicKey, type PublicKey } from "../../../core/users/keys.js";
import type { Layout } from "../../../core/host/layout.js";
import { planSync, type DesiredUser } from "../../../core/users/user-plan.js";
import { parseUsersConfig } from "../../../core/config/users-config.js";
import { parseFlags } from "../../args.js";
import type { Command, CommandIo } from "../../command.js";

const USAGE = `Usage: podspawn sync --file USERS.yaml [--dry-run]

Makes this node's pod users exactly those in USERS.yaml (version: 1, users: [{name, keys}]):
creates missing users, sets every listed user's keys to the listed ones, and removes pod users
that are not listed (ending their containers). The whole file is validated first; a bad file
changes nothing. --dry-run prints the plan only.
`;

export function makeSyncCommand(podUsers: (layout: Layout, io: CommandIo) => PodUserDeps = defaultPodUserDeps): Command {
  return {
    name: "sync",
    summary: "converge pod users and keys to a users.yaml (GitOps)",
    usage: USAGE,
    async run(argv, io) {
      const { values, positionals } = parseFlags("sync", argv, { file: { type: "string" }, "dry-run": { type: "boolean", default: false } }, true);
      if (positionals.length > 0 || !values.file) throw new InputError("sync", "needs --file and no other arguments", USAGE.split("\n")[0]);
      let text: string;
      try {
        text = await readFile(values.file, "utf8");
      } catch (err) {
        throw new InputError("--file", `cannot read ${values.file}: ${describeError(err)}`);
      }
      const config = parseUsersConfig(text, basename(values.file));
      const desired: DesiredUser[] = config.users.map((u) => ({ name: u.name, keys: u.keys.map((k) => parsePublicKey(k)) }));

      const deps = podUsers(io.layout, io);
      const pre = await checkInstalled(io.layout, deps.accounts);
      const registry = await readRegistry(io.layout);
      // Pod users are registry entries whose account is ours (or gone); others are never touched.
      const current = new Map<string, PublicKey[]>();
      for (const [name, keys] of registry) {
        const account = await deps.accounts.getUser(name);
        if (account === null || account.groups.includes(io.layout.usersGroup)) current.set(name, keys);
        else if (!desired.some((d) => d.name === name)) deps.warn(`warning: ${name} has a registry file but host account ${name} is not a pod user; leaving it alone`);
      }
      for (const d of desired) refuseAccount(d.name, await deps.accounts.getUser(d.name), io.layout);

      const plan = planSync(current, desired);
      const dry = values["dry-run"] === true;
      const verb = dry ? "would " : "";
      for (const u of plan.create) deps.say(`${verb}create ${u.name} with ${u.keys.length} key(s)`);
      for (const u of plan.update) deps.say(`${verb}update ${u.name}: +${u.added} -${u.removed} key(s), now ${u.keys.length}`);
      for (const n of plan.remove) deps.say(`${verb}remove ${n}`);
      const changes = plan.create.length + plan.update.length + plan.remove.length;
      if (changes === 0) {
        deps.say(`nothing to change (${plan.unchanged.length} user(s) up to date)`);
        return 0;
      }
      if (dry) return 0;
      for (const u of [...plan.create, ...plan.update]) await applyPodUser(io.layout, u.name, u.keys, pre, deps);
      // Removal ends live sessions: the file is the truth, and an unlisted user must lose access.
      for (const n of plan.remove) await removePodUser(io.layout, n, { force: true }, deps);
      await notifyReload(deps);
      deps.say(`synced: ${plan.create.length} created, ${plan.update.length} updated, ${plan.remove.length} removed, ${plan.unchanged.length} unchanged`);
      return 0;
    },
  };
}

export const syncCommand: Command = makeSyncCommand();

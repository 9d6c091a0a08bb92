import { mkdir, readdir, rmdir } from "node:fs/promises";
import { readFileState, removeFile, writeFileAtomic, type FileState } from "../../../adapters/fs/atomic-file.js";
import { runCommand, type Run } from "../../../adapters/accounts/host-accounts.js";
import { defaultReloadDeps, reloadSshd, testSshdConfig, type ReloadDeps } from "../../../adapters/sshd/sshd.js";
import { describeError, InputError, UserFacingError } from "../../../core/errors.js";
import { layoutFor } from "../../../core/host/layout.js";
import { unifiedDiff } from "../../../support/line-diff.js";
import {
  AUTH_MODES,
  foreignAuthorizedKeysCommands,
  hasSftpSubsystem,
  planMainConfig,
  renderSshdDropin,
  sshdDropinDir,
  sshdDropinPath,
  type AuthMode,
  type ConfigFile,
} from "../../../core/host/sshd-dropin.js";
import { parseFlags } from "../../args.js";
import type { Command } from "../../command.js";

const USAGE = `Usage: podspawn server-setup [--sshd-config PATH] [--auth file|command] [--sshd-pid-file F] [--instance NAME] [--dry-run]

Configures the host's sshd for pod users: writes <dir of sshd_config>/sshd_config.d/50-<instance>.conf
(a Match Group podspawn-users block: keys only from podspawn, every forwarding off), makes sure the
main config includes that dir before any Match and defines a global sftp subsystem, validates with
'sshd -t' (restoring every changed file if it fails) and reloads sshd.
  --auth file      (default) sshd reads the root-owned key files podspawn renders: no Node runs
                   while authenticating
  --auth command   sshd asks 'podspawn auth-keys' (AuthorizedKeysCommand) on every attempt
  --sshd-config    default /etc/ssh/sshd_config
  --sshd-pid-file  send SIGHUP to this sshd instead of systemctl / /run/sshd.pid
  --dry-run        print a diff of what would change and change nothing
`;

export interface ServerSetupDeps {
  readonly run: Run;
  readonly reload: ReloadDeps;
}

export function makeServerSetupCommand(deps: () => ServerSetupDeps = () => ({ run: runCommand, reload: defaultReloadDeps() })): Command {
  return {
    name: "server-setup",
    summary: "configure the host's sshd (drop-in, include, sftp) and reload it",
    usage: USAGE,
    async run(argv, io) {
      const { values, positionals } = parseFlags(
        "server-setup",
        argv,
        {
          "sshd-config": { type: "string", default: "/etc/ssh/sshd_config" },
          auth: { type: "string", default: "file" },
          "sshd-pid-file": { type: "string" },
          instance: { type: "string" },
          "dry-run": { type: "boolean", default: false },
        },
        true,
      );
      if (positionals.length > 0) throw new InputError("server-setup", "takes no positional arguments", USAGE.split("\n")[0]);
      const mode = values.auth as AuthMode;
      if (!AUTH_MODES.includes(mode)) throw new InputError("--auth", `${JSON.stringify(values.auth)} is not a mode`, AUTH_MODES.join(", "));
      const layout = values.instance ? layoutFor(values.instance) : io.layout;
      const configPath = values["sshd-config"] as string;
      if (!configPath.startsWith("/")) throw new InputError("--sshd-config", `${configPath} is not absolute`);
      const say = (line: string): void => void io.stdout.write(line + "\n");
      const d = deps();

      const main = await readFileState(configPath);
      if (!main) throw new UserFacingError("sshd-config-missing", `${configPath} does not exist`);
      const dropinDir = sshdDropinDir(configPath);
      const dropinPath = sshdDropinPath(configPath, layout);
      const others = await readDropins(dropinDir, dropinPath);
      const foreign = foreignAuthorizedKeysCommands([{ path: configPath, text: main.content.toString("utf8") }, ...others], dropinPath);
      if (foreign.length > 0) {
        throw new UserFacingError(
          "sshd-foreign-command",
          `another AuthorizedKeysCommand is configured: ${foreign.map((f) => `${f.path}:${f.line}: ${f.text}`).join("; ")}; remove it first (sshd uses only one)`,
        );
      }
      const plan = planMainConfig(main.content.toString("utf8"), configPath, hasSftpSubsystem(others));
      const dropinText = renderSshdDropin(layout, mode);
      const dropin = await readFileState(dropinPath);
      const dropinChanges = dropin?.content.toString("utf8") !== dropinText;

      if (values["dry-run"]) {
        const diff = (plan.changes.length > 0 ? unifiedDiff(configPath, main.content.toString("utf8"), plan.text) : "") + (dropinChanges ? unifiedDiff(dropinPath, dropin ? dropin.content.toString("utf8") : null, dropinText) : "");
        io.stdout.write(diff === "" ? "nothing to change\n" : diff);
        return 0;
      }
      if (plan.changes.length === 0 && !dropinChanges) {
        say(`nothing to change: sshd is set up for ${layout.instance} (auth ${mode})`);
        return 0;
      }

      const dirExisted = (await readdir(dropinDir).then(() => true, () => false)) as boolean;
      try {
        if (!dirExisted) await mkdir(dropinDir, { mode: 0o755 });
        if (dropinChanges) await writeFileAtomic(dropinPath, dropinText, { mode: 0o644, uid: 0, gid: 0 });
        if (plan.changes.length > 0) await writeFileAtomic(configPath, plan.text, main);
        const check = await testSshdConfig(configPath, d.run);
        if (!check.ok) throw new UserFacingError("sshd-config-invalid", `sshd -t -f ${configPath} rejected the new configuration; restored the previous files: ${check.message}`);
      } catch (err) {
        await restore(configPath, main, dropinPath, dropin, dirExisted ? null : dropinDir);
        if (err instanceof UserFacingError) throw err;
        throw new UserFacingError("sshd-setup-failed", `could not write the sshd configuration; restored the previous files: ${describeError(err)}`);
      }
      for (const c of plan.changes) say(`${configPath}: ${c}`);
      if (dropinChanges) say(`${dropin ? "updated" : "wrote"} ${dropinPath} (auth ${mode})`);
      say(await reloadSshd(values["sshd-pid-file"], d.reload));
      return 0;
    },
  };
}

/** The other drop-ins, as sshd would include them (any *.conf in the dir). */
async function readDropins(dir: string, own: string): Promise<ConfigFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".conf")).sort();
  } catch {
    return [];
  }
  const out: ConfigFile[] = [];
  for (const n of names) {
    const path = `${dir}/${n}`;
    if (path === own) continue;
    const st = await readFileState(path).catch(() => null);
    if (st) out.push({ path, text: st.content.toString("utf8") });
  }
  return out;
}

/** Put every file back exactly as it was (bytes, mode, owner); drop what did not exist. */
async function restore(configPath: string, main: FileState, dropinPath: string, dropin: FileState | null, createdDir: string | null): Promise<void> {
  await writeFileAtomic(configPath, main.content, main);
  if (dropin) await writeFileAtomic(dropinPath, dropin.content, dropin);
  else await removeFile(dropinPath);
  if (createdDir) await rmdir(createdDir).catch(() => undefined);
}

export const serverSetupCommand: Command = makeServerSetupCommand();

import { mkdir, readdir, rmdir } from "node:fs/promises";
import { readFileState, removeFile, writeFileAtomic, type FileState } from "../../../adapters/fs/atomic-file.js";
import { runProcess, type RunProcess } from "../../../adapters/process/run-process.js";
import { defaultReloadDeps, reloadSshd, testSshdConfig, type ReloadDeps } from "../../../adapters/sshd/sshd.js";
import { describeError, InputError, UserFacingError } from "../../../core/errors.js";
import { layoutFor, type Layout } from "../../../core/host/layout.js";
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
import { defineCommand, type Command } from "../../command.js";

export interface ServerSetupDeps {
  readonly run: RunProcess;
  readonly reload: ReloadDeps;
}

/** What sshd has now and what it should have: read and checked before anything is written. */
interface SetupPlan {
  readonly configPath: string;
  readonly main: FileState;
  readonly mainPlan: ReturnType<typeof planMainConfig>;
  readonly dropinDir: string;
  readonly dropinPath: string;
  readonly dropin: FileState | null;
  readonly dropinText: string;
  readonly dropinChanges: boolean;
}

async function planSetup(configPath: string, layout: Layout, mode: AuthMode): Promise<SetupPlan> {
  if (!configPath.startsWith("/")) throw new InputError("--sshd-config", `${configPath} is not absolute`);
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
  const mainPlan = planMainConfig(main.content.toString("utf8"), configPath, hasSftpSubsystem(others));
  const dropinText = renderSshdDropin(layout, mode);
  const dropin = await readFileState(dropinPath);
  return { configPath, main, mainPlan, dropinDir, dropinPath, dropin, dropinText, dropinChanges: dropin?.content.toString("utf8") !== dropinText };
}

function renderDiff(p: SetupPlan): string {
  const mainDiff = p.mainPlan.changes.length > 0 ? unifiedDiff(p.configPath, p.main.content.toString("utf8"), p.mainPlan.text) : "";
  const dropinDiff = p.dropinChanges ? unifiedDiff(p.dropinPath, p.dropin ? p.dropin.content.toString("utf8") : null, p.dropinText) : "";
  return mainDiff + dropinDiff;
}

/** Write, validate with sshd -t, and put every file back if either step fails. */
async function applySetup(p: SetupPlan, run: RunProcess): Promise<void> {
  const dirExisted = (await readdir(p.dropinDir).then(() => true, () => false)) as boolean;
  try {
    if (!dirExisted) await mkdir(p.dropinDir, { mode: 0o755 });
    if (p.dropinChanges) await writeFileAtomic(p.dropinPath, p.dropinText, { mode: 0o644, uid: 0, gid: 0 });
    if (p.mainPlan.changes.length > 0) await writeFileAtomic(p.configPath, p.mainPlan.text, p.main);
    const check = await testSshdConfig(p.configPath, run);
    if (!check.ok) throw new UserFacingError("sshd-config-invalid", `sshd -t -f ${p.configPath} rejected the new configuration; restored the previous files: ${check.message}`);
  } catch (err) {
    await restore(p.configPath, p.main, p.dropinPath, p.dropin, dirExisted ? null : p.dropinDir);
    if (err instanceof UserFacingError) throw err;
    throw new UserFacingError("sshd-setup-failed", `could not write the sshd configuration; restored the previous files: ${describeError(err)}`);
  }
}

export function makeServerSetupCommand(deps: () => ServerSetupDeps = () => ({ run: runProcess, reload: defaultReloadDeps() })): Command {
  return defineCommand(
    {
      name: "server-setup",
      summary: "configure the host's sshd (drop-in, include, sftp) and reload it",
      flags: {
        "sshd-config": { type: "string", value: "PATH", default: "/etc/ssh/sshd_config", description: "the main sshd config" },
        auth: {
          type: "string",
          choices: AUTH_MODES,
          default: "file",
          description: `how sshd gets the keys. file: it reads the root-owned key files podspawn renders (no Node runs while authenticating)
command: it asks 'podspawn auth-keys' (AuthorizedKeysCommand) on every attempt`,
        },
        "sshd-pid-file": { type: "string", value: "FILE", description: "send SIGHUP to this sshd instead of systemctl / /run/sshd.pid" },
        instance: { type: "string", value: "NAME", defaultText: "$PODSPAWN_INSTANCE, else podspawn", description: "the instance whose users the drop-in is for" },
        "dry-run": { type: "boolean", description: "print a diff of what would change and change nothing" },
      },
      description: `Configures the host's sshd for pod users: writes <dir of sshd_config>/sshd_config.d/50-<instance>.conf
(a Match Group podspawn-users block: keys only from podspawn, every forwarding off), makes sure the
main config includes that dir before any Match and defines a global sftp subsystem, validates with
'sshd -t' (restoring every changed file if it fails) and reloads sshd.`,
    },
    async ({ flags }, io) => {
      const mode = flags.auth as AuthMode;
      const layout = flags.instance ? layoutFor(flags.instance) : io.layout;
      const say = (line: string): void => void io.stdout.write(line + "\n");
      const d = deps();
      const plan = await planSetup(flags["sshd-config"], layout, mode);
      if (flags["dry-run"]) {
        const diff = renderDiff(plan);
        io.stdout.write(diff === "" ? "nothing to change\n" : diff);
        return 0;
      }
      if (plan.mainPlan.changes.length === 0 && !plan.dropinChanges) {
        say(`nothing to change: sshd is set up for ${layout.instance} (auth ${mode})`);
        return 0;
      }
      await applySetup(plan, d.run);
      for (const c of plan.mainPlan.changes) say(`${plan.configPath}: ${c}`);
      if (plan.dropinChanges) say(`${plan.dropin ? "updated" : "wrote"} ${plan.dropinPath} (auth ${mode})`);
      say(await reloadSshd(flags["sshd-pid-file"], d.reload));
      return 0;
    },
  );
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

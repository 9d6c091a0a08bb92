import { existsSync } from "node:fs";
import { access, constants, readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { hostAccounts, type HostAccounts } from "../../../adapters/accounts/host-accounts.js";
import { ensureDir, ensureFile, rootOwnedPathProblems, type Outcome } from "../../../adapters/fs/atomic-file.js";
import { describeError, InputError, UserFacingError } from "../../../core/errors.js";
import { layoutFor, type Layout } from "../../../core/host/layout.js";
import { renderSystemdUnit } from "../../../core/host/systemd-unit.js";
import { BUNDLE_FILES, renderWrapper } from "../../../core/host/wrapper-script.js";
import { describeExit, runProcess, type RunProcess } from "../../../adapters/process/run-process.js";
import { defineCommand, type Command } from "../../command.js";

export interface InstallDeps {
  readonly accounts: HostAccounts;
  readonly run: RunProcess;
  /** Where systemd looks for units; null when systemd is not running (no unit written). */
  readonly systemdUnitDir: string | null;
}

export function defaultInstallDeps(): InstallDeps {
  return { accounts: hostAccounts(), run: runProcess, systemdUnitDir: existsSync("/run/systemd/system") ? "/etc/systemd/system" : null };
}

/** The bundle dir next to the running bundle, else the repo's dist/bundle above the running file. */
export function defaultBundleDir(entry: string | undefined = process.argv[1], cwd: string = process.cwd()): string {
  if (entry?.endsWith(".cjs")) return dirname(resolve(entry));
  for (let p = entry ? dirname(resolve(entry)) : cwd; ; p = dirname(p)) {
    if (existsSync(join(p, "bundle", "podspawn.cjs"))) return join(p, "bundle");
    if (existsSync(join(p, "dist", "bundle", "podspawn.cjs"))) return join(p, "dist", "bundle");
    if (p === dirname(p)) break;
  }
  return join(cwd, "dist", "bundle");
}

const ROOT = { uid: 0, gid: 0 };

/** Everything the install writes is read and checked before the first write. */
async function readBundles(bundleDir: string): Promise<Map<string, Buffer>> {
  const bundles = new Map<string, Buffer>();
  for (const name of BUNDLE_FILES) {
    try {
      bundles.set(name, await readFile(join(bundleDir, name)));
    } catch (err) {
      throw new InputError("--bundle-dir", `cannot read ${join(bundleDir, name)}: ${describeError(err)}`, "a dir with podspawn.cjs, spawn.cjs and auth-keys.cjs (npm run build)");
    }
  }
  return bundles;
}

async function checkNodePath(nodePath: string): Promise<void> {
  if (!isAbsolute(nodePath)) throw new InputError("--node", `${JSON.stringify(nodePath)} is not absolute`, "an absolute path, e.g. /usr/bin/node");
  try {
    await access(nodePath, constants.X_OK);
  } catch {
    throw new InputError("--node", `${nodePath} is not an executable file`);
  }
  // node runs as root (the daemon, admin commands) and for every login: whoever can replace it,
  // or a dir on its way, owns the node. Both the path as given (a symlink's dir) and its target.
  const problems = [...new Set([...(await rootOwnedPathProblems(dirname(nodePath))), ...(await rootOwnedPathProblems(nodePath))])];
  if (problems.length > 0) {
    throw new InputError("--node", `${nodePath} is not safe to run as root: ${problems.join("; ")}`, "a node binary whose file and every parent dir are root-owned and not group/world-writable, e.g. /usr/bin/node");
  }
}

type Note = (what: string, outcome: Outcome | boolean) => void;

async function installAccounts(layout: Layout, d: InstallDeps, note: Note): Promise<number> {
  note(`group ${layout.usersGroup}`, await d.accounts.ensureGroup(layout.usersGroup));
  note(`service user ${layout.keysUser}`, await d.accounts.ensureServiceUser(layout.keysUser));
  const keysGroup = await d.accounts.getGroup(layout.keysUser);
  if (!keysGroup) throw new UserFacingError("install-accounts", `group ${layout.keysUser} is missing after creating user ${layout.keysUser}`);
  return keysGroup.gid;
}

async function installFiles(layout: Layout, bundles: ReadonlyMap<string, Buffer>, wrapper: string, keysGid: number, note: Note): Promise<void> {
  note(layout.libDir, await ensureDir(layout.libDir, { mode: 0o755, ...ROOT }));
  note(dirname(layout.command), await ensureDir(dirname(layout.command), { mode: 0o755, ...ROOT }));
  const problems = await rootOwnedPathProblems(dirname(layout.command));
  if (problems.length > 0) throw unsafe(problems);
  for (const [name, content] of bundles) note(join(layout.libDir, name), await ensureFile(join(layout.libDir, name), content, { mode: 0o644, ...ROOT }));
  note(layout.command, await ensureFile(layout.command, wrapper, { mode: 0o755, ...ROOT }));

  note(layout.etcDir, await ensureDir(layout.etcDir, { mode: 0o755, ...ROOT }));
  note(layout.usersDir, await ensureDir(layout.usersDir, { mode: 0o750, uid: 0, gid: keysGid }));
  note(layout.authorizedKeysDir, await ensureDir(layout.authorizedKeysDir, { mode: 0o755, ...ROOT }));
  note(layout.stateDir, await ensureDir(layout.stateDir, { mode: 0o700, ...ROOT }));
  note(layout.runDir, await ensureDir(layout.runDir, { mode: 0o755, ...ROOT }));
  note(`${layout.runDir}/u`, await ensureDir(`${layout.runDir}/u`, { mode: 0o755, ...ROOT }));
}

/** systemctl can block on a unit's start; a minute is far beyond a healthy daemon start. */
const SYSTEMCTL_TIMEOUT_MS = 60_000;

/** Returns the line for the admin about the daemon's unit. */
async function installUnit(layout: Layout, d: InstallDeps, note: Note): Promise<string> {
  if (!d.systemdUnitDir) return "systemd is not running here: no unit written; start the daemon with '" + layout.command + " daemon'";
  const unitPath = join(d.systemdUnitDir, layout.systemdUnit);
  const outcome = await ensureFile(unitPath, renderSystemdUnit(layout), { mode: 0o644, ...ROOT });
  note(unitPath, outcome);
  if (outcome === "unchanged") return `systemd unit ${layout.systemdUnit} is up to date`;
  for (const args of [["daemon-reload"], ["enable", layout.systemdUnit], ["restart", layout.systemdUnit]]) {
    const r = await d.run("systemctl", args, { timeoutMs: SYSTEMCTL_TIMEOUT_MS });
    if (r.code !== 0) throw new UserFacingError("install-systemd", `systemctl ${args.join(" ")} failed (${describeExit(r, SYSTEMCTL_TIMEOUT_MS)}): ${r.stderr.trim()}`);
  }
  return `systemd unit ${layout.systemdUnit} written and enabled`;
}

export function makeInstallCommand(deps: () => InstallDeps = defaultInstallDeps): Command {
  return defineCommand(
    {
      name: "install",
      summary: "install the agent, accounts, directories and daemon unit on this node",
      flags: {
        instance: { type: "string", value: "NAME", defaultText: "$PODSPAWN_INSTANCE, else podspawn", description: "the instance: every path and name derives from it" },
        "bundle-dir": { type: "string", value: "DIR", defaultText: "the running bundle's dir", description: "where podspawn.cjs, spawn.cjs and auth-keys.cjs are" },
        node: { type: "string", value: "PATH", defaultText: "the running node", description: "the absolute node binary the wrapper runs" },
      },
      description: `Installs this node's agent: copies podspawn.cjs, spawn.cjs and auth-keys.cjs into the root-owned
lib dir, writes the wrapper sshd runs (pinned to the absolute node path), creates group
podspawn-users and the keys user podspawn-keys, the config/state/run dirs, and the daemon's
systemd unit when systemd runs. Safe to re-run: it only changes what differs.`,
    },
    async ({ flags }, io) => {
      const layout = flags.instance ? layoutFor(flags.instance) : io.layout;
      const d = deps();
      const say = (line: string): void => void io.stdout.write(line + "\n");
      const bundles = await readBundles(resolve(flags["bundle-dir"] ?? defaultBundleDir()));
      const nodePath = flags.node ?? process.execPath;
      await checkNodePath(nodePath);
      const wrapper = renderWrapper(layout, nodePath);
      await refuseUnsafeParents(dirname(layout.command));

      const changes: string[] = [];
      const note: Note = (what, outcome) => {
        if (outcome === true || outcome === "created") changes.push(`created ${what}`);
        else if (outcome === "updated") changes.push(`updated ${what}`);
      };
      const keysGid = await installAccounts(layout, d, note);
      await installFiles(layout, bundles, wrapper, keysGid, note);
      const unitNote = await installUnit(layout, d, note);
      if (changes.length === 0) say(`nothing to change: ${layout.instance} is installed (${layout.command})`);
      else for (const c of changes) say(c);
      say(unitNote);
      return 0;
    },
  );
}

/** Check the nearest existing ancestor chain before creating anything under it. */
async function refuseUnsafeParents(dir: string): Promise<void> {
  let p = dir;
  while (!existsSync(p)) p = dirname(p);
  const problems = await rootOwnedPathProblems(p);
  if (problems.length > 0) throw unsafe(problems);
}

function unsafe(problems: readonly string[]): UserFacingError {
  return new UserFacingError(
    "install-unsafe-path",
    `refusing to install: sshd requires the command and every parent dir to be root-owned and not group/world-writable: ${problems.join("; ")}`,
  );
}

export const installCommand: Command = makeInstallCommand();


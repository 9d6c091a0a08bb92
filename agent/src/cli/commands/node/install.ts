import { existsSync } from "node:fs";
import { access, constants, readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { hostAccounts, runCommand, type HostAccounts, type Run } from "../../../adapters/accounts/host-accounts.js";
import { ensureDir, ensureFile, rootOwnedPathProblems, type Outcome } from "../../../adapters/fs/atomic-file.js";
import { describeError, InputError, UserFacingError } from "../../../core/errors.js";
import { layoutFor } from "../../../core/host/layout.js";
import { renderSystemdUnit } from "../../../core/host/systemd-unit.js";
import { BUNDLE_FILES, renderWrapper } from "../../../core/host/wrapper-script.js";
import { parseFlags } from "../../args.js";
import type { Command } from "../../command.js";

const USAGE = `Usage: podspawn install [--instance NAME] [--bundle-dir DIR] [--node PATH]

Installs this node's agent: copies podspawn.cjs, spawn.cjs and auth-keys.cjs into the root-owned
lib dir, writes the wrapper sshd runs (pinned to the absolute node path, --node or the running
node), creates group podspawn-users and the keys user podspawn-keys, the config/state/run dirs,
and the daemon's systemd unit when systemd runs. Safe to re-run: it only changes what differs.
`;

export interface InstallDeps {
  readonly accounts: HostAccounts;
  readonly run: Run;
  /** Where systemd looks for units; null when systemd is not running (no unit written). */
  readonly systemdUnitDir: string | null;
}

export function defaultInstallDeps(): InstallDeps {
  return { accounts: hostAccounts(), run: runCommand, systemdUnitDir: existsSync("/run/systemd/system") ? "/etc/systemd/system" : null };
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

export function makeInstallCommand(deps: () => InstallDeps = defaultInstallDeps): Command {
  return {
    name: "install",
    summary: "install the agent, accounts, directories and daemon unit on this node",
    usage: USAGE,
    async run(argv, io) {
      const { values, positionals } = parseFlags("install", argv, { instance: { type: "string" }, "bundle-dir": { type: "string" }, node: { type: "string" } }, true);
      if (positionals.length > 0) throw new InputError("install", "takes no positional arguments", USAGE.split("\n")[0]);
      const layout = values.instance ? layoutFor(values.instance) : io.layout;
      const d = deps();
      const say = (line: string): void => void io.stdout.write(line + "\n");

      // Everything is read and checked before the first write.
      const bundleDir = resolve(values["bundle-dir"] ?? defaultBundleDir());
      const bundles = new Map<string, Buffer>();
      for (const name of BUNDLE_FILES) {
        try {
          bundles.set(name, await readFile(join(bundleDir, name)));
        } catch (err) {
          throw new InputError("--bundle-dir", `cannot read ${join(bundleDir, name)}: ${describeError(err)}`, "a dir with podspawn.cjs, spawn.cjs and auth-keys.cjs (npm run build)");
        }
      }
      const nodePath = values.node ?? process.execPath;
      if (!isAbsolute(nodePath)) throw new InputError("--node", `${JSON.stringify(nodePath)} is not absolute`, "an absolute path, e.g. /usr/bin/node");
      try {
        await access(nodePath, constants.X_OK);
      } catch {
        throw new InputError("--node", `${nodePath} is not an executable file`);
      }
      const wrapper = renderWrapper(layout, nodePath);
      await refuseUnsafeParents(dirname(layout.command));

      const changes: string[] = [];
      const note = (what: string, outcome: Outcome | boolean): void => {
        if (outcome === true || outcome === "created") changes.push(`created ${what}`);
        else if (outcome === "updated") changes.push(`updated ${what}`);
      };
      note(`group ${layout.usersGroup}`, await d.accounts.ensureGroup(layout.usersGroup));
      note(`service user ${layout.keysUser}`, await d.accounts.ensureServiceUser(layout.keysUser));
      const keysGroup = await d.accounts.getGroup(layout.keysUser);
      if (!keysGroup) throw new UserFacingError("install-accounts", `group ${layout.keysUser} is missing after creating user ${layout.keysUser}`);

      note(layout.libDir, await ensureDir(layout.libDir, { mode: 0o755, ...ROOT }));
      note(dirname(layout.command), await ensureDir(dirname(layout.command), { mode: 0o755, ...ROOT }));
      const problems = await rootOwnedPathProblems(dirname(layout.command));
      if (problems.length > 0) throw unsafe(problems);
      for (const [name, content] of bundles) note(join(layout.libDir, name), await ensureFile(join(layout.libDir, name), content, { mode: 0o644, ...ROOT }));
      note(layout.command, await ensureFile(layout.command, wrapper, { mode: 0o755, ...ROOT }));

      note(layout.etcDir, await ensureDir(layout.etcDir, { mode: 0o755, ...ROOT }));
      note(layout.usersDir, await ensureDir(layout.usersDir, { mode: 0o750, uid: 0, gid: keysGroup.gid }));
      note(layout.authorizedKeysDir, await ensureDir(layout.authorizedKeysDir, { mode: 0o755, ...ROOT }));
      note(layout.stateDir, await ensureDir(layout.stateDir, { mode: 0o700, ...ROOT }));
      note(layout.runDir, await ensureDir(layout.runDir, { mode: 0o755, ...ROOT }));
      note(`${layout.runDir}/u`, await ensureDir(`${layout.runDir}/u`, { mode: 0o755, ...ROOT }));

      let unitNote = "systemd is not running here: no unit written; start the daemon with '" + layout.command + " daemon'";
      if (d.systemdUnitDir) {
        const unitPath = join(d.systemdUnitDir, layout.systemdUnit);
        const outcome = await ensureFile(unitPath, renderSystemdUnit(layout), { mode: 0o644, ...ROOT });
        note(unitPath, outcome);
        unitNote = `systemd unit ${layout.systemdUnit} ${outcome === "unchanged" ? "is up to date" : "written and enabled"}`;
        if (outcome !== "unchanged") {
          for (const args of [["daemon-reload"], ["enable", layout.systemdUnit], ["restart", layout.systemdUnit]]) {
            const r = await d.run("systemctl", args);
            if (r.code !== 0) throw new UserFacingError("install-systemd", `systemctl ${args.join(" ")} failed: ${r.stderr.trim()}`);
          }
        }
      }

      if (changes.length === 0) say(`nothing to change: ${layout.instance} is installed (${layout.command})`);
      else for (const c of changes) say(c);
      say(unitNote);
      return 0;
    },
  };
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


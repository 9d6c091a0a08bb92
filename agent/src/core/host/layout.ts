import { InputError } from "../errors.js";

/**
 * Where an installation lives on a host. Everything is derived from one instance name so a test
 * deployment (`podspawn-e2e`) can sit beside the real one without sharing sockets, keys or state.
 * The install tree must be root-owned down from `/` because sshd checks the command path.
 */
export interface Layout {
  readonly instance: string;
  /** Root-owned program tree: bundles and the wrapper. */
  readonly libDir: string;
  /** The wrapper that sshd runs (absolute, root-owned). */
  readonly command: string;
  /** Admin-editable config: config.yaml, the key registry, rendered authorized_keys. */
  readonly etcDir: string;
  readonly configFile: string;
  /** `<user>.keys`: the key registry, root:keys-user 0640. */
  readonly usersDir: string;
  /** `<user>`: rendered authorized lines for sshd's AuthorizedKeysFile, root:<user> 0640. */
  readonly authorizedKeysDir: string;
  /** `<project>.json`: the project registry, root 0600 in a root 0700 directory. */
  readonly projectsDir: string;
  /** Daemon state (audit log), root 0700. */
  readonly stateDir: string;
  /** Full logs of image builds, one file per build (a failed login names it in the daemon log). */
  readonly buildLogsDir: string;
  /** Clones of `--repo` projects, each checked out at the commit its record pins. */
  readonly projectReposDir: string;
  /** Sockets: control.sock (root only) and u/<user>/spawn.sock (reachable by that user only). */
  readonly runDir: string;
  readonly controlSocket: string;
  readonly pidFile: string;
  /** Shared accounts and groups: one keys user and one group across instances on a host. */
  readonly keysUser: string;
  readonly usersGroup: string;
  readonly systemdUnit: string;
}

export const DEFAULT_INSTANCE = "podspawn";
const INSTANCE_PATTERN = /^podspawn(-[a-z0-9]{1,16})?$/;

export function layoutFor(instance: string = DEFAULT_INSTANCE): Layout {
  if (!INSTANCE_PATTERN.test(instance)) {
    throw new InputError("instance", `${JSON.stringify(instance)} is not a valid instance name`, "'podspawn' or 'podspawn-<1-16 lowercase letters/digits>'");
  }
  const libDir = `/usr/local/lib/${instance}`;
  const etcDir = `/etc/${instance}`;
  const runDir = `/run/${instance}`;
  return {
    instance,
    libDir,
    command: `${libDir}/bin/podspawn`,
    etcDir,
    configFile: `${etcDir}/config.yaml`,
    usersDir: `${etcDir}/users`,
    authorizedKeysDir: `${etcDir}/authorized_keys`,
    projectsDir: `${etcDir}/projects`,
    stateDir: `/var/lib/${instance}`,
    buildLogsDir: `/var/lib/${instance}/builds`,
    projectReposDir: `/var/lib/${instance}/projects`,
    runDir,
    controlSocket: `${runDir}/control.sock`,
    pidFile: `${runDir}/daemon.pid`,
    keysUser: "podspawn-keys",
    usersGroup: "podspawn-users",
    systemdUnit: `${instance}d.service`,
  };
}

/** The per-user socket directory and socket: the directory is root:<user's private group> 0710. */
export function userSocketDir(layout: Layout, user: string): string {
  return `${layout.runDir}/u/${user}`;
}
export function userSocketPath(layout: Layout, user: string): string {
  return `${userSocketDir(layout, user)}/spawn.sock`;
}

/**
 * The bundles read their instance from the env var the root-owned wrapper sets; sshd passes no user
 * environment to the forced command except AcceptEnv names, and ours never include this one.
 */
export function layoutFromEnv(env: NodeJS.ProcessEnv = process.env): Layout {
  return layoutFor(env["PODSPAWN_INSTANCE"] || DEFAULT_INSTANCE);
}

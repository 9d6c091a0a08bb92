import type { ContainerAccount } from "../container/exec-plan.js";
import type { ExecPlan } from "../container/exec-plan.js";
import type { SessionRequest } from "../protocol/session-request.js";

/**
 * The IDE mode: a session whose command is exactly `podspawn-sshd` runs OpenSSH's sshd in inetd
 * mode (`sshd -i`) inside the user's container, as the user, on the session's stdin/stdout. The
 * client speaks SSH to it through a ProxyCommand, so every forward (-L/-R/-D/-A) is opened by a
 * process in the container's namespaces, never by the host's sshd.
 */
export const INNER_SSHD_COMMAND = "podspawn-sshd";

/** Where the daemon puts the inner sshd's files in the container; the directories are root-owned. */
export const INNER_PATHS = {
  dir: "/etc/podspawn",
  sshdDir: "/etc/podspawn/sshd",
  config: "/etc/podspawn/sshd/sshd_config",
  hostKey: "/etc/podspawn/sshd/ssh_host_ed25519_key",
  hostCert: "/etc/podspawn/sshd/ssh_host_ed25519_key-cert.pub",
  authorizedKeys: "/etc/podspawn/authorized_keys",
} as const;

/** Where images keep OpenSSH's sshd (Debian, Alpine, Fedora; a source build). */
export const SSHD_PATHS: readonly string[] = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"];

export const NO_SSHD_MESSAGE = "this environment has no sshd; the IDE mode needs openssh-server in its image";

/** Exactly the command, as sshd hands it over (surrounding blanks trimmed): no flags, no arguments. */
export function isInnerSshdCommand(command: string | null): boolean {
  return command !== null && command.trim() === INNER_SSHD_COMMAND;
}

/**
 * What runs in the container. No `-e`/`-E`: sshd -i then logs to syslog, which a container does
 * not have, so nothing but the SSH protocol reaches the session's stdout and nothing reaches the
 * user's stderr. Never a TTY: the stream is the inner protocol, byte for byte.
 */
export function planInnerSshdExec(req: SessionRequest, account: ContainerAccount, sshdPath: string): ExecPlan {
  return {
    kind: "inner-sshd",
    argv: [sshdPath, "-i", "-f", INNER_PATHS.config],
    tty: false,
    env: [`HOME=${account.home}`, `USER=${account.name}`, `LOGNAME=${account.name}`, `SHELL=${account.shell}`, `PODSPAWN_PROJECT=${req.project}`],
    user: `${account.uid}:${account.gid}`,
    workdir: account.home,
  };
}

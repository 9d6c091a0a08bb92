import type { SessionRequest } from "../protocol/session-request.js";

/** The account the daemon created inside the container for the pod user. */
export interface ContainerAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export interface ExecPlan {
  readonly kind: "shell" | "command" | "sftp" | "inner-sshd";
  readonly argv: readonly string[];
  readonly tty: boolean;
  readonly env: readonly string[];
  readonly user: string;
  readonly workdir: string;
}

/**
 * The strings sshd puts in SSH_ORIGINAL_COMMAND for the sftp subsystem (its `Subsystem sftp`
 * value). The one list: the node config's `sftp_subsystems` defaults to it.
 */
export const DEFAULT_SFTP_SUBSYSTEMS: readonly string[] = ["internal-sftp", "/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server"];

// A fixed script (no user input): images put sftp-server in different places.
const SFTP_SCRIPT =
  'for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server /usr/lib/sftp-server; do [ -x "$p" ] && exec "$p"; done; echo "podspawn: this environment has no sftp-server (install openssh-sftp-server in the image)" >&2; exit 127';

// Sets the PTY size before the user's program starts, so `stty size` is right on the first line.
// Docker's exec resize can only run after start (API 1.41 has no ConsoleSize), which races.
const TTY_SIZE_SCRIPT = 'stty rows "$1" cols "$2" 2>/dev/null; shift 2; exec "$@"';

/** Whether a session of this kind gets the forwarded agent: what runs a program, not sftp. */
export function wantsAgent(req: SessionRequest, sftpSubsystems: readonly string[] = DEFAULT_SFTP_SUBSYSTEMS): boolean {
  return req.agent && !(req.command !== null && sftpSubsystems.includes(req.command.trim()));
}

/**
 * Decide what runs inside the container. The user's command only ever becomes an argv element of
 * their own shell inside the container (`$SHELL -c <command>`, exactly what sshd would do on a
 * normal host), never a host shell string or a Docker option.
 */
export function planExec(req: SessionRequest, account: ContainerAccount, sftpSubsystems: readonly string[] = DEFAULT_SFTP_SUBSYSTEMS, agentSocket: string | null = null): ExecPlan {
  const isSftp = req.command !== null && sftpSubsystems.includes(req.command.trim());
  let kind: ExecPlan["kind"];
  let argv: string[];
  if (isSftp) {
    kind = "sftp";
    argv = ["/bin/sh", "-c", SFTP_SCRIPT];
  } else if (req.command === null) {
    kind = "shell";
    argv = [account.shell, "-l"];
  } else {
    kind = "command";
    argv = [account.shell, "-c", req.command];
  }
  // The PTY follows what the client asked for (ssh -t / -T), never "no command means PTY".
  const tty = req.tty && kind !== "sftp";
  if (tty && req.cols > 0 && req.rows > 0) argv = ["/bin/sh", "-c", TTY_SIZE_SCRIPT, "podspawn-tty", String(req.rows), String(req.cols), ...argv];
  const env = [
    `HOME=${account.home}`,
    `USER=${account.name}`,
    `LOGNAME=${account.name}`,
    `SHELL=${account.shell}`,
    `PODSPAWN_PROJECT=${req.project}`,
    ...(tty ? [`TERM=${req.term ?? "xterm-256color"}`] : req.term ? [`TERM=${req.term}`] : []),
    ...Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
    // The daemon's own path inside the container (agent-socket.ts), never the client's words.
    ...(agentSocket !== null && kind !== "sftp" ? [`SSH_AUTH_SOCK=${agentSocket}`] : []),
  ];
  return { kind, argv, tty, env, user: `${account.uid}:${account.gid}`, workdir: account.home };
}

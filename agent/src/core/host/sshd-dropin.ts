import { dirname } from "node:path";
import type { Layout } from "./layout.js";

/**
 * Everything `server-setup` decides about sshd's configuration, as pure functions over text.
 * sshd takes the FIRST value it sees for most keywords and a `Match` block runs to the next
 * `Match`, so our drop-in must be included before any `Match` in the main file, and it ends with
 * `Match all` so whatever follows it is global again.
 */

export type AuthMode = "file" | "command";
export const AUTH_MODES: readonly AuthMode[] = ["file", "command"];

export function sshdDropinDir(sshdConfigPath: string): string {
  return `${dirname(sshdConfigPath)}/sshd_config.d`;
}
export function sshdDropinPath(sshdConfigPath: string, layout: Layout): string {
  return `${sshdDropinDir(sshdConfigPath)}/50-${layout.instance}.conf`;
}
export function sshdIncludeGlob(sshdConfigPath: string): string {
  return `${sshdDropinDir(sshdConfigPath)}/*.conf`;
}

/**
 * `file` (recommended) has sshd read the root-owned lines `add-user`/`sync` render, so no Node
 * process runs while authenticating; `command` asks `auth-keys` each time (the compatible path).
 */
export function renderSshdDropin(layout: Layout, mode: AuthMode): string {
  const auth =
    mode === "file"
      ? [`AuthorizedKeysFile ${layout.authorizedKeysDir}/%u`]
      : ["AuthorizedKeysFile none", `AuthorizedKeysCommand ${layout.command} auth-keys %u %t %k`, `AuthorizedKeysCommandUser ${layout.keysUser}`];
  const body = [
    ...auth,
    // Forwarding through the host's sshd would reach the HOST network and sockets (docker.sock):
    // every switch off one by one. Not `DisableForwarding yes`, which would override the one
    // allowed: the agent, which spawn relays into the container over the session (no host path).
    "AllowAgentForwarding yes",
    "AllowTcpForwarding no",
    "AllowStreamLocalForwarding no",
    "X11Forwarding no",
    "PermitTunnel no",
    "PermitListen none",
    "PermitOpen none",
    "GatewayPorts no",
    "PermitUserRC no",
    // spawn reads SSH_USER_AUTH so the daemon's audit log records which key opened the session.
    "ExposeAuthInfo yes",
    // Only our key lines may let a pod user in: every other way sshd knows (a user CA, Kerberos,
    // GSSAPI, host-based, passwords) would log in without their forced command. A site may
    // enable any of them globally; in this block they are off, whatever the main config says.
    "AuthenticationMethods publickey",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitEmptyPasswords no",
    "HostbasedAuthentication no",
    "GSSAPIAuthentication no",
    "KerberosAuthentication no",
    "TrustedUserCAKeys none",
    "AuthorizedPrincipalsFile none",
    "AcceptEnv LANG LC_* PODSPAWN_PROJECT",
    // The second layer: should anything let a pod user in without a key line's command, sshd
    // still runs spawn, never a host shell (spawn takes the user from the account running it).
    `ForceCommand ${layout.command} spawn`,
  ];
  return [
    `# Written by \`podspawn server-setup\` (instance ${layout.instance}, auth ${mode}); re-run it instead of editing.`,
    `Match Group ${layout.usersGroup}`,
    ...body.map((l) => `    ${l}`),
    "Match all",
    "",
  ].join("\n");
}

export interface ConfigLine {
  /** 1-based. */
  readonly line: number;
  /** Lower-cased, as sshd compares keywords case-insensitively. */
  readonly keyword: string;
  readonly args: readonly string[];
  readonly text: string;
}

/** Split sshd_config text into directive lines, skipping blanks and comments. */
export function parseSshdConfig(text: string): ConfigLine[] {
  const out: ConfigLine[] = [];
  text.split("\n").forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const m = /^([A-Za-z]+)(?:\s*=\s*|\s+)(.*)$/.exec(trimmed) ?? /^([A-Za-z]+)()$/.exec(trimmed);
    if (!m) return;
    const args = (m[2] ?? "").split(/\s+/).filter((a) => a !== "" );
    out.push({ line: i + 1, keyword: (m[1] as string).toLowerCase(), args, text: trimmed });
  });
  return out;
}

export interface ConfigFile {
  readonly path: string;
  readonly text: string;
}
export interface Finding {
  readonly path: string;
  readonly line: number;
  readonly text: string;
}

/** AuthorizedKeysCommand lines anywhere but our own drop-in: two commands cannot both answer. */
export function foreignAuthorizedKeysCommands(files: readonly ConfigFile[], ownDropin: string): Finding[] {
  return files
    .filter((f) => f.path !== ownDropin)
    .flatMap((f) =>
      parseSshdConfig(f.text)
        .filter((l) => l.keyword === "authorizedkeyscommand" && l.args[0]?.toLowerCase() !== "none")
        .map((l) => ({ path: f.path, line: l.line, text: l.text })),
    );
}

export function hasSftpSubsystem(files: readonly ConfigFile[]): boolean {
  return files.some((f) => parseSshdConfig(f.text).some((l) => l.keyword === "subsystem" && l.args[0] === "sftp"));
}

export interface MainConfigPlan {
  readonly text: string;
  /** One line per change, for the report. Empty when nothing changes. */
  readonly changes: readonly string[];
}

/**
 * Make the main sshd_config include the drop-in dir before any `Match`, and define a global sftp
 * subsystem if no file does (forced commands see the subsystem string, and scp uses sftp).
 */
export function planMainConfig(text: string, sshdConfigPath: string, sftpElsewhere: boolean): MainConfigPlan {
  const glob = sshdIncludeGlob(sshdConfigPath);
  const accepted = new Set([glob]);
  // sshd resolves relative Include paths against /etc/ssh, not against the config's directory.
  if (dirname(sshdConfigPath) === "/etc/ssh") accepted.add("sshd_config.d/*.conf");
  const lines = parseSshdConfig(text);
  const firstMatch = lines.find((l) => l.keyword === "match")?.line ?? Infinity;
  const included = lines.some((l) => l.keyword === "include" && l.line < firstMatch && l.args.some((a) => accepted.has(a)));
  const hasSftp = sftpElsewhere || lines.some((l) => l.keyword === "subsystem" && l.args[0] === "sftp");
  const changes: string[] = [];
  let rows = text.split("\n");
  if (!hasSftp) {
    const block = ["# Added by podspawn server-setup: pod users' sftp/scp need a global sftp subsystem.", "Subsystem sftp internal-sftp"];
    if (firstMatch === Infinity) {
      const trailing = rows.length > 0 && rows[rows.length - 1] === "";
      rows = trailing ? [...rows.slice(0, -1), ...block, ""] : [...rows, ...block];
    } else {
      rows = [...rows.slice(0, firstMatch - 1), ...block, ...rows.slice(firstMatch - 1)];
    }
    changes.push("added a global 'Subsystem sftp internal-sftp'");
  }
  if (!included) {
    rows = ["# Added by podspawn server-setup: drop-ins must be read before any Match block.", `Include ${glob}`, ...rows];
    changes.push(`added 'Include ${glob}' at the top`);
  }
  return { text: rows.join("\n"), changes };
}

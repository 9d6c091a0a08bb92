import { INNER_PATHS } from "./inner-sshd.js";

/**
 * The inner sshd's config, written by the daemon for one user's container. sshd runs as that user
 * (not root), so there is no privilege separation, no PAM and no login as anyone else; what is
 * left is deciding what a session may do inside the container. Every forward acts in the
 * container's network namespace and filesystem, which is exactly what the user already reaches
 * with a shell there, so forwarding is on; what would leave the container (a tun device, X11, a
 * listener on other addresses than loopback) stays off.
 */
export function renderInnerSshdConfig(user: string): string {
  return [
    `# Written by podspawn for the IDE mode (podspawn-sshd): sshd -i as ${user}, in this container.`,
    "# Rewritten at every IDE session start; edits are lost.",
    `HostKey ${INNER_PATHS.hostKey}`,
    `HostCertificate ${INNER_PATHS.hostCert}`,
    // The user's registered keys, placed root-owned and read-only by the daemon: the user can
    // neither add a key nor read another user's.
    `AuthorizedKeysFile ${INNER_PATHS.authorizedKeys}`,
    "AuthorizedPrincipalsFile none",
    "AuthenticationMethods publickey",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "HostbasedAuthentication no",
    "UsePAM no",
    "PermitRootLogin no",
    `AllowUsers ${user}`,
    "StrictModes yes",
    "PidFile none",
    "PermitUserEnvironment no",
    "PermitUserRC no",
    "AllowTcpForwarding yes",
    "AllowAgentForwarding yes",
    // VS Code and others forward unix sockets too; in the container they are the container's own.
    "AllowStreamLocalForwarding yes",
    "StreamLocalBindUnlink yes",
    // -R listens on the container's loopback only.
    "GatewayPorts no",
    "X11Forwarding no",
    "PermitTunnel no",
    "PermitTTY yes",
    "PrintMotd no",
    "PrintLastLog no",
    "UseDNS no",
    "AcceptEnv LANG LC_*",
    // The sshd binary's own sftp server: no path to guess per image, same process as the session.
    "Subsystem sftp internal-sftp",
    "LogLevel ERROR",
    "",
  ].join("\n");
}

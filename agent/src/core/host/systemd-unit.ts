import type { Layout } from "./layout.js";

/**
 * The node daemon's unit. It is root and the only Docker client, so the hardening keeps what it
 * needs (the Docker socket over AF_UNIX, its run and state dirs) and takes away the rest: it never
 * writes /usr or /etc, loads modules or tunes the kernel. No PrivateDevices/PrivateNetwork: the
 * daemon must see the host's /run/docker.sock and the containers' bridge addresses.
 */
export function renderSystemdUnit(layout: Layout): string {
  return [
    "# Written by `podspawn install`; re-run it instead of editing this file.",
    "[Unit]",
    `Description=podspawn node daemon (${layout.instance})`,
    "After=network-online.target docker.service",
    "Wants=docker.service",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${layout.command} daemon`,
    `Environment=PODSPAWN_INSTANCE=${layout.instance}`,
    // No module search path a non-root account could write to (see the wrapper).
    "Environment=HOME=/ NODE_PATH=",
    "Restart=always",
    "RestartSec=1",
    `RuntimeDirectory=${layout.runDir.replace(/^\/run\//, "")}`,
    "RuntimeDirectoryMode=0755",
    "RuntimeDirectoryPreserve=yes",
    `StateDirectory=${layout.stateDir.replace(/^\/var\/lib\//, "")}`,
    "StateDirectoryMode=0700",
    "UMask=0022",
    "NoNewPrivileges=yes",
    "ProtectSystem=full",
    "PrivateTmp=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelLogs=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "LockPersonality=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "RestrictNamespaces=yes",
    "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

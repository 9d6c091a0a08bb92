/**
 * The systemd units the bootstrap installs on a node (besides `<instance>d.service`, which
 * `podspawn install` writes): pure text, so a test can run `systemd-analyze verify` on exactly
 * what a node gets. Without systemd (containers, tests) the bootstrap runs the same commands from
 * background loops instead.
 */
export interface NodeUnitsParams {
  readonly instance: string;
  /** The installed node script (`/usr/local/sbin/<instance>-node`). */
  readonly nodeScript: string;
  /** The metadata firewall script. */
  readonly firewallScript: string;
  readonly syncIntervalSeconds: number;
  readonly agentPollSeconds: number;
  /** Also write the firewall unit. */
  readonly blockMetadata: boolean;
}

export function renderNodeUnits(p: NodeUnitsParams): Record<string, string> {
  const i = p.instance;
  const units: Record<string, string> = {
    [`${i}-sync.service`]: `[Unit]
Description=podspawn users sync (${i})
After=network-online.target ${i}d.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=${p.nodeScript} sync-users
`,
    [`${i}-sync.timer`]: `[Unit]
Description=podspawn users sync every ${p.syncIntervalSeconds} s (${i})

[Timer]
OnBootSec=30
OnUnitActiveSec=${p.syncIntervalSeconds}
RandomizedDelaySec=10

[Install]
WantedBy=timers.target
`,
    // The agent pointer: a new release is fetched, verified, and applied after a drain.
    [`${i}-agent-update.service`]: `[Unit]
Description=podspawn agent update from the release pointer (${i})
After=network-online.target ${i}d.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=${p.nodeScript} update-agent
`,
    [`${i}-agent-update.timer`]: `[Unit]
Description=podspawn agent pointer check every ${p.agentPollSeconds} s (${i})

[Timer]
OnBootSec=120
OnUnitActiveSec=${p.agentPollSeconds}
RandomizedDelaySec=${Math.min(300, Math.max(1, Math.floor(p.agentPollSeconds / 2)))}

[Install]
WantedBy=timers.target
`,
  };
  if (p.blockMetadata) {
    // Rules vanish on reboot; this unit puts them back once Docker has built its chains.
    units[`${i}-block-metadata.service`] = `[Unit]
Description=Block containers from the instance metadata service (${i})
After=docker.service
Requires=docker.service
PartOf=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${p.firewallScript}

[Install]
WantedBy=multi-user.target docker.service
`;
  }
  return units;
}

/**
 * The closed catalog of error codes. Every `UserFacingError` carries one, and every error the
 * daemon records (its log's `error` lines, a session's failure) names one, so an admin can grep,
 * count and alert on a code instead of on a message that may be reworded. A new failure adds its
 * code here, with the one sentence docs/operations.md prints for it (test/unit/error-codes.test.ts
 * keeps that table equal to this one).
 */
export const ERROR_CODES = {
  // ---- the user's input and the catch-all -------------------------------------------------------
  "bad-input": "a field of a request, flag or file was invalid; the message names it and what is allowed",
  internal: "a bug or an unexpected failure in podspawn itself; the detail is in the daemon log",

  // ---- sessions on a node -------------------------------------------------------------------------
  "docker-down": "the container engine is not answering on its socket",
  "engine-timeout": "a container engine call got no answer within its deadline (engine.timeout, engine.inspect_timeout)",
  "image-missing": "the environment's image is not in the node's engine",
  "no-address": "the user's container has no address on its network, so a tunnel has nowhere to go",
  "node-draining": "the node is drained: it starts no new environments",
  "sessions-per-user": "the user has limits.sessions_per_user sessions already",
  "environments-per-user": "the user has limits.environments_per_user environments already",
  "max-environments": "the node holds limits.max_environments environments",
  "address-pool": "network.pool has no free block for a new user network",
  "project-broken": "the project's registry record on the node could not be read",
  "project-unfit": "the project's Podfile does not fit this node (a resource cap, a base image the node lacks)",
  "build-busy": "every image build slot is taken; the login may try again in a few minutes",
  "build-failed": "building the environment's image failed or passed build_timeout; the full log is under the state dir",
  "no-sshd": "an IDE-mode session (podspawn-sshd) found no sshd binary in the environment's image",
  "no-ide-mode": "this daemon was started without the IDE mode (podspawn-sshd)",
  "host-ca": "the node's host CA for inner sshd certificates could not be opened or generated",
  "account-id": "the user's container id (100000 + the host account's uid) is not available: no host account, or the image gives that id to another entry",
  "runc-vulnerable": "the node's runc has a known container escape that engine.accept_runc_advisories does not accept (or runc could not be checked), so sessions are refused",
  "egress-firewall": "the firewall rules that keep containers off the metadata service and the host could not be put in place, so sessions are refused",
  "service-failed": "a Podfile environment's companion service could not start, or stopped while starting (its log: docker logs <instance>.<user>.<project>.<service>)",
  "service-not-ready": "a companion service did not accept TCP connections on its ready port within its ready timeout; the environment was removed",
  "setup-failed": "a step of a Podfile environment's setup (dotfiles, repos, on_create, on_start) failed or passed its timeout; the user saw its last lines",

  // ---- the daemon's own housekeeping (log only) --------------------------------------------------
  "config-reload": "config.yaml could not be re-read; the previous config stays in force",
  "socket-sync": "the per-user sockets could not be brought in line with the key registry",
  "eviction": "removing what unregistered users left (containers, volumes) failed",
  "container-remove": "removing a container failed (the next reconcile tries again)",
  "network-remove": "removing a user network failed (the next reconcile tries again)",
  "audit-write": "an audit record could not be written to the state dir's audit.log",
  "metrics-listen": "the metrics endpoint could not listen on metrics_listen",
  "pool-fill": "making or claiming a pre-warmed pool container failed (the login took the normal path; the next refill tries again)",

  // ---- spawn <-> daemon ---------------------------------------------------------------------------
  "daemon-down": "the session service (podspawnd) is not running or not listening for this user",
  "daemon-unreachable": "the daemon's control socket could not be reached",
  "daemon-timeout": "the daemon did not answer a control request in time",
  "daemon-protocol": "the daemon's answer was not in the protocol (versions differ?)",
  "daemon-status": "the daemon could not report its sessions",
  "daemon-error": "the daemon refused a control request",
  "evict-failed": "the daemon could not end a removed user's containers",

  // ---- admin commands on a node ------------------------------------------------------------------
  "not-root": "the command needs root",
  "not-installed": "podspawn is not installed on this host (run install)",
  "install-accounts": "install could not create its host accounts or groups",
  "install-systemd": "install could not write or enable its systemd units",
  "install-unsafe-path": "the install tree is not root-owned or is group/world-writable, which sshd refuses",
  "account-conflict": "a host account of that name exists and is not a pod user",
  "no-such-user": "no pod user of that name",
  "live-sessions": "the user has live sessions (remove-user without --force)",
  "mass-removal": "sync would remove every user or more than --max-removal-share of them",
  "github-fetch": "fetching a GitHub user's keys failed",
  "github-account-changed": "a GitHub login now belongs to another account than the one imported before (renamed and re-registered?)",
  "github-no-keys": "the GitHub user has no usable keys",
  "sshd-config-missing": "sshd's main config file is missing",
  "sshd-config-invalid": "sshd -t refused the config; nothing was changed",
  "sshd-foreign-command": "another AuthorizedKeysCommand is configured in sshd",
  "sshd-setup-failed": "writing or reloading the sshd drop-in failed; the old config was restored",
  "sshd-not-set-up": "sshd does not include podspawn's drop-in directory (run server-setup)",
  "state-write": "a file under the config or state dir could not be written (disk full, read-only); the old file is intact",

  // ---- the client ---------------------------------------------------------------------------------
  "manifest-unavailable": "the fleet manifest could not be fetched or read",
  "discovery-failed": "no usable _podspawn TXT record for the domain",
  "discovery-mismatch": "the discovered manifest is for another fleet",
  "no-node": "no node of the fleet answered",
  "no-program": "the file that runs podspawn could not be told (pass --command)",
  "no-ssh": "the OpenSSH client could not be run",
  "no-editor": "the editor program could not be run",
  "ssh-config": "~/.ssh/config could not be edited",
  listen: "a local port could not be listened on",
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

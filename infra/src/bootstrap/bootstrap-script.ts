import { InputError } from "../../../agent/src/core/errors.js";
import { layoutFor } from "../../../agent/src/core/host/layout.js";

/**
 * The node bootstrap, rendered at synth time by a pure function. The same text runs as EC2
 * user-data (gzipped), as the local fleet's container entrypoint and, for real, in the bootstrap e2e
 * test on the CI machine; only the URLs differ (s3://, ssm:, file://, http://127.0.0.1). It is
 * idempotent: running it again on a converged node changes nothing but restarts nothing either.
 *
 * Sources:
 *   s3://bucket/key   `aws s3 cp` with the instance role (awscli from the distro)
 *   ssm:/param/name   `aws ssm get-parameter --with-decryption` (host private key)
 *   file:///path      a local file (local fleet, tests)
 *   http(s)://...     curl (a local HTTP server in tests)
 */
export interface BootstrapParams {
  /** Instance name (see agent layout): decides every path, unit and firewall comment. */
  readonly instance: string;
  readonly artifactUrl: string;
  /** Hex sha256 of the artifact; the script refuses anything else. */
  readonly artifactSha256: string;
  /** The users config object; fetched again by the sync timer on every run. */
  readonly usersUrl: string;
  /** @default - no region flag (non-AWS sources) */
  readonly awsRegion?: string;
  /** Where the node's host private key comes from. @default - keep the distro's generated keys */
  readonly hostKeyUrl?: string;
  /** @default "/etc/ssh/sshd_config" */
  readonly sshdConfig?: string;
  /** Only where sshd is not managed by systemd (tests, containers). @default - systemd reload */
  readonly sshdPidFile?: string;
  /** @default 300 */
  readonly syncIntervalSeconds?: number;
  /** Block containers from the cloud metadata service (DOCKER-USER). @default true */
  readonly blockMetadata?: boolean;
}

const SHA256 = /^[0-9a-f]{64}$/;
const URL_PATTERN = /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/[A-Za-z0-9!_.*'()/-]+|ssm:\/[A-Za-z0-9_./-]+|file:\/\/\/[A-Za-z0-9_./-]+|https?:\/\/[A-Za-z0-9.:[\]-]+\/[A-Za-z0-9_./-]*)$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const ABS_PATH = /^\/[A-Za-z0-9_./-]+$/;

function checkUrl(field: string, value: string): string {
  if (!URL_PATTERN.test(value)) throw new InputError(field, `${JSON.stringify(value)} is not a supported source`, "s3://bucket/key, ssm:/name, file:///path or http(s)://host/path");
  return value;
}

/** Single-quoted for sh; every value is also pattern-checked above, this is the second fence. */
function q(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function renderBootstrapScript(p: BootstrapParams): string {
  const layout = layoutFor(p.instance);
  if (!SHA256.test(p.artifactSha256)) throw new InputError("artifactSha256", "must be 64 lowercase hex digits");
  checkUrl("artifactUrl", p.artifactUrl);
  checkUrl("usersUrl", p.usersUrl);
  if (p.hostKeyUrl !== undefined) checkUrl("hostKeyUrl", p.hostKeyUrl);
  if (p.awsRegion !== undefined && !REGION.test(p.awsRegion)) throw new InputError("awsRegion", `${JSON.stringify(p.awsRegion)} is not a region name`);
  const sshdConfig = p.sshdConfig ?? "/etc/ssh/sshd_config";
  if (!ABS_PATH.test(sshdConfig)) throw new InputError("sshdConfig", "must be an absolute path");
  if (p.sshdPidFile !== undefined && !ABS_PATH.test(p.sshdPidFile)) throw new InputError("sshdPidFile", "must be an absolute path");
  const interval = p.syncIntervalSeconds ?? 300;
  if (!Number.isInteger(interval) || interval < 10 || interval > 86_400) throw new InputError("syncIntervalSeconds", `${interval} is out of range`, "10-86400");
  const needsAws = [p.artifactUrl, p.usersUrl, p.hostKeyUrl ?? ""].some((u) => u.startsWith("s3://") || u.startsWith("ssm:"));
  const needsCurl = [p.artifactUrl, p.usersUrl, p.hostKeyUrl ?? ""].some((u) => u.startsWith("http"));

  return `#!/bin/bash
# podspawn node bootstrap, rendered by infra/src/bootstrap/bootstrap-script.ts. Do not edit on a node:
# change the config and redeploy. Safe to run again.
set -euo pipefail
umask 022
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
INSTANCE=${q(layout.instance)}
COMMAND=${q(layout.command)}
ARTIFACT_URL=${q(p.artifactUrl)}
ARTIFACT_SHA256=${q(p.artifactSha256)}
USERS_URL=${q(p.usersUrl)}
AWS_REGION_FLAG=${q(p.awsRegion ? `--region=${p.awsRegion}` : "")}
HOST_KEY_URL=${q(p.hostKeyUrl ?? "")}
SSHD_CONFIG=${q(sshdConfig)}
SSHD_PID_FILE=${q(p.sshdPidFile ?? "")}
SYNC_INTERVAL=${interval}
BLOCK_METADATA=${p.blockMetadata === false ? 0 : 1}
WORK=/var/lib/$INSTANCE-bootstrap
RUN=/run/$INSTANCE-bootstrap

log() { printf 'podspawn-bootstrap[%s]: %s\\n' "$INSTANCE" "$*" >&2; }
die() { log "error: $*"; exit 1; }
have_systemd() { [ -d /run/systemd/system ]; }

# Packages come from the distro (Debian 12). Anything already present is kept, so a prepared image
# or a test machine skips apt entirely.
install_packages() {
  local need=()
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v docker >/dev/null 2>&1 || need+=(docker.io)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  command -v tar >/dev/null 2>&1 || need+=(tar)
${needsAws ? "  command -v aws >/dev/null 2>&1 || need+=(awscli)\n" : ""}${needsCurl ? "  command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)\n" : ""}  if [ "\${#need[@]}" -gt 0 ]; then
    log "installing \${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "\${need[@]}"
  fi
}

# fetch URL DEST: the only place that knows about sources.
fetch() {
  local url=$1 dest=$2
  case "$url" in
    s3://*) aws $AWS_REGION_FLAG s3 cp --only-show-errors "$url" "$dest" ;;
    ssm:*) aws $AWS_REGION_FLAG ssm get-parameter --with-decryption --name "\${url#ssm:}" --query Parameter.Value --output text >"$dest" ;;
    file://*) cp -- "\${url#file://}" "$dest" ;;
    http://*|https://*) curl -fsS --retry 5 --retry-connrefused -o "$dest" "$url" ;;
    *) die "unsupported source $url" ;;
  esac
}

install_agent() {
  local dir=$WORK/agent-$ARTIFACT_SHA256
  if [ ! -f "$dir/.verified" ]; then
    local tmp
    tmp=$(mktemp "$WORK/artifact.XXXXXX")
    fetch "$ARTIFACT_URL" "$tmp"
    echo "$ARTIFACT_SHA256  $tmp" | sha256sum -c --quiet - || { rm -f "$tmp"; die "agent artifact sha256 mismatch for $ARTIFACT_URL"; }
    rm -rf "$dir" && mkdir -p "$dir"
    tar -xzf "$tmp" -C "$dir" --no-same-owner --no-same-permissions
    rm -f "$tmp"
    touch "$dir/.verified"
  fi
  local node
  node=$(command -v node)
  # The same commands an admin runs by hand: one code path for cloud, laptop and tests.
  PODSPAWN_INSTANCE=$INSTANCE node "$dir/podspawn.cjs" install --instance "$INSTANCE" --bundle-dir "$dir" --node "$node"
}

install_host_key() {
  [ -n "$HOST_KEY_URL" ] || return 0
  local key=/etc/ssh/ssh_host_ed25519_key tmp
  tmp=$(mktemp /etc/ssh/.host_key.XXXXXX)
  fetch "$HOST_KEY_URL" "$tmp"
  chmod 600 "$tmp"
  ssh-keygen -y -f "$tmp" >"$tmp.pub" || { rm -f "$tmp" "$tmp.pub"; die "host key from $HOST_KEY_URL is not an OpenSSH private key"; }
  mv -f "$tmp" "$key" && mv -f "$tmp.pub" "$key.pub"
}

ensure_docker() {
  docker info >/dev/null 2>&1 && return 0
  if have_systemd; then
    systemctl enable --now docker.service
  else
    log "starting dockerd (no systemd)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    echo $! >"$RUN/dockerd.pid"
  fi
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "docker did not start"
}

# Containers must not reach the instance metadata service (it hands out the node role's
# credentials). DOCKER-USER is the chain Docker leaves to us; the comment makes the rule ours.
write_firewall() {
  [ "$BLOCK_METADATA" = 1 ] || return 0
  local script=/usr/local/sbin/$INSTANCE-block-metadata
  cat >"$script.tmp" <<SCRIPT
#!/bin/sh
set -e
for t in iptables:169.254.169.254/32 ip6tables:fd00:ec2::254/128; do
  bin=\\\${t%%:*}; dst=\\\${t#*:}
  command -v "\\$bin" >/dev/null 2>&1 || continue
  \\$bin -w -n -L DOCKER-USER >/dev/null 2>&1 || \\$bin -w -N DOCKER-USER 2>/dev/null || continue
  \\$bin -w -C DOCKER-USER -d "\\$dst" -m comment --comment $INSTANCE-imds -j DROP 2>/dev/null \\\\
    || \\$bin -w -I DOCKER-USER -d "\\$dst" -m comment --comment $INSTANCE-imds -j DROP
done
SCRIPT
  chmod 755 "$script.tmp" && mv -f "$script.tmp" "$script"
  if have_systemd; then
    # Rules vanish on reboot; this unit puts them back once Docker has built its chains.
    cat >/etc/systemd/system/$INSTANCE-block-metadata.service <<UNIT
[Unit]
Description=Block containers from the instance metadata service ($INSTANCE)
After=docker.service
Requires=docker.service
PartOf=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$script

[Install]
WantedBy=multi-user.target docker.service
UNIT
    systemctl daemon-reload
    systemctl enable $INSTANCE-block-metadata.service
  fi
  "$script"
}

write_sync() {
  local script=/usr/local/sbin/$INSTANCE-sync
  cat >"$script.tmp" <<SCRIPT
#!/bin/bash
# Converge users from the config object in git; idempotent, so the timer may run it any time.
set -euo pipefail
$(declare -f fetch log die)
AWS_REGION_FLAG='$(printf '%s' "$AWS_REGION_FLAG")'
INSTANCE=$INSTANCE
tmp=\\$(mktemp $WORK/users.XXXXXX)
trap 'rm -f "\\$tmp"' EXIT
fetch '$USERS_URL' "\\$tmp"
PODSPAWN_INSTANCE=$INSTANCE $COMMAND sync --file "\\$tmp"
SCRIPT
  chmod 755 "$script.tmp" && mv -f "$script.tmp" "$script"
  if have_systemd; then
    cat >/etc/systemd/system/$INSTANCE-sync.service <<UNIT
[Unit]
Description=podspawn users sync ($INSTANCE)
After=network-online.target \${INSTANCE}d.service

[Service]
Type=oneshot
ExecStart=$script
UNIT
    cat >/etc/systemd/system/$INSTANCE-sync.timer <<UNIT
[Unit]
Description=podspawn users sync every $SYNC_INTERVAL s ($INSTANCE)

[Timer]
OnBootSec=30
OnUnitActiveSec=$SYNC_INTERVAL
RandomizedDelaySec=10

[Install]
WantedBy=timers.target
UNIT
    systemctl daemon-reload
  fi
  "$script"
  if have_systemd; then
    systemctl enable --now $INSTANCE-sync.timer
  else
    start_bg sync-loop bash -c "while sleep $SYNC_INTERVAL; do $script || true; done"
  fi
}

# Without systemd (containers, tests) long-running pieces get PID files so whoever started the
# bootstrap can stop exactly them.
start_bg() {
  local name=$1; shift
  local pidfile=$RUN/$name.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 0; fi
  nohup setsid "$@" >>"/var/log/$INSTANCE-$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

start_daemon() {
  if have_systemd; then
    systemctl daemon-reload
    systemctl enable --now "$INSTANCE"d.service
  else
    start_bg daemon env PODSPAWN_INSTANCE="$INSTANCE" "$COMMAND" daemon
  fi
}

setup_sshd() {
  mkdir -p /run/sshd
  local flags=(--sshd-config "$SSHD_CONFIG" --auth file)
  [ -n "$SSHD_PID_FILE" ] && flags+=(--sshd-pid-file "$SSHD_PID_FILE")
  PODSPAWN_INSTANCE=$INSTANCE "$COMMAND" server-setup "\${flags[@]}"
  if have_systemd; then
    systemctl reload-or-restart ssh.service
  elif [ -n "$SSHD_PID_FILE" ] && [ -f "$SSHD_PID_FILE" ] && kill -0 "$(cat "$SSHD_PID_FILE")" 2>/dev/null; then
    kill -HUP "$(cat "$SSHD_PID_FILE")"
  else
    /usr/sbin/sshd -f "$SSHD_CONFIG"
  fi
}

main() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  mkdir -p "$WORK" "$RUN" && chmod 700 "$WORK"
  install_packages
  install_agent
  install_host_key
  ensure_docker
  write_firewall
  start_daemon
  write_sync
  setup_sshd
  log "node ready"
}

main "$@"
`;
}

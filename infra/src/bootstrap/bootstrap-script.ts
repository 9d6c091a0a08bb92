import { InputError } from "../../../agent/src/core/errors.js";
import { layoutFor } from "../../../agent/src/core/host/layout.js";
import { RUNC_ADVISORIES } from "../../../agent/src/core/host/runc-advisories.js";
import { renderNodeUnits } from "./node-units.js";
import { PROJECTS_SYNC, renderProjectsVariables } from "./projects-sync.js";

/**
 * The node bootstrap, rendered at synth time by a pure function. The same text runs as EC2
 * user-data (gzipped), as the local fleet's node script (`npm run up -- --nodes N`) and, for real,
 * in the bootstrap e2e test; only the URLs differ (s3://, ssm:, file://, http://127.0.0.1).
 *
 * It installs itself as `/usr/local/sbin/<instance>-node`, whose subcommands the timers run:
 *   bootstrap      (default) packages, agent, host key, Docker, environment image, daemon, users, sshd
 *   sync-users     follow the users pointer (and the projects pointer, when there is one), verify
 *                  each object's sha256, unpack the projects bundle safely, one `podspawn sync` for both
 *   update-agent   follow the agent pointer; on a new sha256: fetch, verify, build the image, drain
 *                  and wait for sessions to end (bounded), restart the daemon on the new agent (it
 *                  adopts its containers), undrain
 *
 * Nothing release-specific is in the text: the agent, the users file and the projects bundle are named by pointers
 * (objects holding a sha256), so user-data is byte-identical across releases and instances are
 * never replaced for one. Every fetch and apt-get retries with backoff, every step is recorded in
 * a status file (published to `statusUrl`), and a failure is written there, not lost.
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
  /** The node's name in the fleet (status reports, logs). */
  readonly node: string;
  /** An object holding the sha256 of the agent artifact the node should run. */
  readonly agentPointerUrl: string;
  /** Artifacts are `<agentBaseUrl><sha256>.tar.gz` (so the URL ends in `/` or `-`). */
  readonly agentBaseUrl: string;
  /** An object holding the sha256 of the users file; followed on every sync. */
  readonly usersPointerUrl: string;
  /** Users files are `<usersBaseUrl><sha256>.json`. */
  readonly usersBaseUrl: string;
  /**
   * An object holding the sha256 of the projects bundle (projects-bundle.ts), followed on every
   * sync beside the users pointer; users and projects converge in one `podspawn sync`.
   * @default - no projects: the sync converges users only, and the script says nothing of projects
   */
  readonly projectsPointerUrl?: string;
  /** Bundles are `<projectsBaseUrl><sha256>.tar`; required with projectsPointerUrl. */
  readonly projectsBaseUrl?: string;
  /** Where the node publishes its status.json (s3:// or file://). @default - only the node's own file */
  readonly statusUrl?: string;
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
  /** @default 300 */
  readonly agentPollSeconds?: number;
  /** How long an upgrade waits, drained, for sessions to end before it restarts the daemon anyway. @default 3600 */
  readonly upgradeMaxWaitSeconds?: number;
  /** Block containers from the cloud metadata service (DOCKER-USER). @default true */
  readonly blockMetadata?: boolean;
  /** The environment image the node builds with the agent's image kit. @default "podspawn/default:bookworm" */
  readonly defaultImage?: string;
  /**
   * Known runc escapes the node accepts after weighing them: `engine.accept_runc_advisories` of the
   * config.yaml the bootstrap writes (ids of agent/src/core/host/runc-advisories.ts). A node refuses
   * sessions, or Podfile projects, while runc has an escape not listed; Debian 12's newest runc
   * has four open that reach only through images (docs/operations.md, "runc advisories"), so a
   * Debian 12 fleet without them runs only its default environment.
   * @default - none accepted
   */
  readonly acceptRuncAdvisories?: readonly string[];
  /** Every fetch and apt-get: this many attempts, the first wait this long, doubling. @default { attempts: 6, firstDelayMs: 2000 } */
  readonly retry?: { readonly attempts: number; readonly firstDelayMs: number };
}

const URL_PATTERN = /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/[A-Za-z0-9!_.*'()/-]+|ssm:\/[A-Za-z0-9_./-]+|file:\/\/\/[A-Za-z0-9_./-]+|https?:\/\/[A-Za-z0-9.:[\]-]+\/[A-Za-z0-9_./-]*)$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const ABS_PATH = /^\/[A-Za-z0-9_./-]+$/;
const NODE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const IMAGE_REF = /^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?$/;

function checkUrl(field: string, value: string): string {
  if (!URL_PATTERN.test(value)) throw new InputError(field, `${JSON.stringify(value)} is not a supported source`, "s3://bucket/key, ssm:/name, file:///path or http(s)://host/path");
  return value;
}

function checkBase(field: string, value: string): string {
  checkUrl(field, value);
  if (!/[/-]$/.test(value)) throw new InputError(field, `${JSON.stringify(value)} does not end in '/' or '-'`, "a prefix the sha256 is appended to");
  return value;
}

function checkRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new InputError(field, `${value} is out of range`, `${min}-${max}`);
  return value;
}

function checkAdvisories(ids: readonly string[]): string {
  const known = RUNC_ADVISORIES.map((a) => a.id);
  ids.forEach((id, i) => {
    if (!known.includes(id)) throw new InputError(`acceptRuncAdvisories[${i}]`, `${JSON.stringify(id)} is not a known runc advisory`, known.join(", "));
    if (ids.indexOf(id) !== i) throw new InputError(`acceptRuncAdvisories[${i}]`, `${id} is listed twice`);
  });
  return ids.join(", ");
}

/**
 * The node config's engine section, after its image line. Rendered only when advisories are
 * accepted: a fleet without them keeps byte-identical user-data (no node replaced for this).
 */
const ACCEPT_RUNC_WRITE = `    printf 'engine:\\n  accept_runc_advisories: [%s]\\n' "$ACCEPT_RUNC_ADVISORIES" >>"$config"
`;

/** Single-quoted for sh; every value is also pattern-checked above, this is the second fence. */
function q(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

interface Checked {
  readonly sshdConfig: string;
  readonly sync: number;
  readonly poll: number;
  readonly maxWait: number;
  readonly image: string;
  /** The accepted advisory ids, `, `-joined (empty: none). */
  readonly acceptRunc: string;
  readonly attempts: number;
  readonly delayMs: number;
}

function checkParams(p: BootstrapParams): Checked {
  if (!NODE_NAME.test(p.node)) throw new InputError("node", `${JSON.stringify(p.node)} is not a DNS label`);
  checkUrl("agentPointerUrl", p.agentPointerUrl);
  checkBase("agentBaseUrl", p.agentBaseUrl);
  checkUrl("usersPointerUrl", p.usersPointerUrl);
  checkBase("usersBaseUrl", p.usersBaseUrl);
  if ((p.projectsPointerUrl === undefined) !== (p.projectsBaseUrl === undefined)) throw new InputError(p.projectsPointerUrl === undefined ? "projectsPointerUrl" : "projectsBaseUrl", "is missing", "projectsPointerUrl and projectsBaseUrl together, or neither");
  if (p.projectsPointerUrl !== undefined) checkUrl("projectsPointerUrl", p.projectsPointerUrl);
  if (p.projectsBaseUrl !== undefined) checkBase("projectsBaseUrl", p.projectsBaseUrl);
  if (p.statusUrl !== undefined && !/^(s3|file):/.test(checkUrl("statusUrl", p.statusUrl))) throw new InputError("statusUrl", "must be s3:// or file://");
  if (p.hostKeyUrl !== undefined) checkUrl("hostKeyUrl", p.hostKeyUrl);
  if (p.awsRegion !== undefined && !REGION.test(p.awsRegion)) throw new InputError("awsRegion", `${JSON.stringify(p.awsRegion)} is not a region name`);
  const sshdConfig = p.sshdConfig ?? "/etc/ssh/sshd_config";
  if (!ABS_PATH.test(sshdConfig)) throw new InputError("sshdConfig", "must be an absolute path");
  if (p.sshdPidFile !== undefined && !ABS_PATH.test(p.sshdPidFile)) throw new InputError("sshdPidFile", "must be an absolute path");
  const image = p.defaultImage ?? "podspawn/default:bookworm";
  if (!IMAGE_REF.test(image)) throw new InputError("defaultImage", `${JSON.stringify(image)} is not an image reference`);
  return {
    sshdConfig,
    acceptRunc: checkAdvisories(p.acceptRuncAdvisories ?? []),
    sync: checkRange("syncIntervalSeconds", p.syncIntervalSeconds ?? 300, 10, 86_400),
    poll: checkRange("agentPollSeconds", p.agentPollSeconds ?? 300, 10, 86_400),
    maxWait: checkRange("upgradeMaxWaitSeconds", p.upgradeMaxWaitSeconds ?? 3600, 0, 7 * 86_400),
    image,
    attempts: checkRange("retry.attempts", p.retry?.attempts ?? 6, 1, 20),
    delayMs: checkRange("retry.firstDelayMs", p.retry?.firstDelayMs ?? 2000, 0, 600_000),
  };
}

/** `cat >FILE <<'UNIT'` for each unit: quoted heredocs, the text is final. */
function unitWrites(units: Record<string, string>): string {
  return Object.entries(units)
    .map(([name, text]) => `  cat >/etc/systemd/system/${name} <<'UNIT'\n${text}UNIT`)
    .join("\n");
}

/** The users-only sync: the whole of it when no projects pointer is given. */
const SYNC_USERS = `cmd_sync_users() {
  local tmp
  read_pointer "$USERS_POINTER_URL"
  tmp=$(mktemp "$WORK/users.XXXXXX")
  fetch_pinned "$USERS_BASE_URL$POINTED.json" "$POINTED" "$tmp"
  local flags=()
  # The deploy says so in the pointer (allowMassUserRemoval), never the node on its own.
  [[ " $POINTER_FLAGS " == *" allow-mass-removal "* ]] && flags+=(--allow-mass-removal)
  PODSPAWN_INSTANCE=$INSTANCE "$COMMAND" sync --file "$tmp" "\${flags[@]}" >&2 || { rm -f "$tmp"; die "podspawn sync refused users file $POINTED"; }
  rm -f "$tmp"
}
`;

export function renderBootstrapScript(p: BootstrapParams): string {
  const layout = layoutFor(p.instance);
  const c = checkParams(p);
  const sources = [p.agentPointerUrl, p.agentBaseUrl, p.usersPointerUrl, p.usersBaseUrl, p.projectsPointerUrl ?? "", p.projectsBaseUrl ?? "", p.hostKeyUrl ?? "", p.statusUrl ?? ""];
  const projects = p.projectsPointerUrl !== undefined && p.projectsBaseUrl !== undefined;
  const needsAws = sources.some((u) => u.startsWith("s3://") || u.startsWith("ssm:"));
  const needsCurl = sources.some((u) => u.startsWith("http"));
  const self = `/usr/local/sbin/${layout.instance}-node`;
  const firewall = `/usr/local/sbin/${layout.instance}-block-metadata`;
  const units = renderNodeUnits({ instance: layout.instance, nodeScript: self, firewallScript: firewall, syncIntervalSeconds: c.sync, agentPollSeconds: c.poll, blockMetadata: p.blockMetadata !== false });

  return `#!/bin/bash
# podspawn node script, rendered by infra/src/bootstrap/bootstrap-script.ts. Do not edit on a node:
# change the config and redeploy. Safe to run again. Usage: $0 [bootstrap|sync-users|update-agent]
set -euo pipefail
umask 022
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
INSTANCE=${q(layout.instance)}
NODE=${q(p.node)}
COMMAND=${q(layout.command)}
SELF=${q(self)}
AGENT_POINTER_URL=${q(p.agentPointerUrl)}
AGENT_BASE_URL=${q(p.agentBaseUrl)}
USERS_POINTER_URL=${q(p.usersPointerUrl)}
USERS_BASE_URL=${q(p.usersBaseUrl)}
${projects ? renderProjectsVariables(q(p.projectsPointerUrl ?? ""), q(p.projectsBaseUrl ?? "")) : ""}STATUS_URL=${q(p.statusUrl ?? "")}
AWS_REGION_FLAG=${q(p.awsRegion ? `--region=${p.awsRegion}` : "")}
HOST_KEY_URL=${q(p.hostKeyUrl ?? "")}
SSHD_CONFIG=${q(c.sshdConfig)}
SSHD_PID_FILE=${q(p.sshdPidFile ?? "")}
SYNC_INTERVAL=${c.sync}
AGENT_POLL=${c.poll}
UPGRADE_MAX_WAIT=${c.maxWait}
BLOCK_METADATA=${p.blockMetadata === false ? 0 : 1}
DEFAULT_IMAGE=${q(c.image)}
${c.acceptRunc ? `ACCEPT_RUNC_ADVISORIES=${q(c.acceptRunc)}\n` : ""}RETRY_ATTEMPTS=${c.attempts}
RETRY_DELAY_MS=${c.delayMs}
WORK=/var/lib/$INSTANCE-bootstrap
RUN=/run/$INSTANCE-bootstrap
STEP=start
FAIL_STATE=failed
LAST_ERROR=
POINTED=
POINTER_FLAGS=
STAGED=
SSHD_FLAGS=(--sshd-config "$SSHD_CONFIG")
[ -n "$SSHD_PID_FILE" ] && SSHD_FLAGS+=(--sshd-pid-file "$SSHD_PID_FILE")
export AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=3

log() { printf 'podspawn-node[%s]: %s\\n' "$INSTANCE" "$*" >&2; }
die() { LAST_ERROR="$*"; log "error: $*"; exit 1; }
have_systemd() { [ -d /run/systemd/system ]; }
step() { STEP=$1; log "step $1"; }

# retry CMD...: up to RETRY_ATTEMPTS tries, waiting RETRY_DELAY_MS after the first failure and
# twice as long after each next one. Clouds lose requests while an instance boots.
retry() {
  local n=1 ms=$RETRY_DELAY_MS
  until "$@"; do
    if [ "$n" -ge "$RETRY_ATTEMPTS" ]; then log "gave up after $n attempts: $*"; return 1; fi
    log "attempt $n failed, again in \${ms} ms: $*"
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    n=$((n + 1)); ms=$((ms * 2))
  done
}

# Status for whoever waits on the deploy: the node's file, and STATUS_URL when set.
write_status() {
  local state=$1 detail=\${2:-} tmp
  detail=$(printf '%s' "$detail" | tr -c 'A-Za-z0-9 ._:/=+,()@-' '_' | cut -c1-300)
  mkdir -p "$WORK"
  tmp=$(mktemp "$WORK/status.XXXXXX")
  printf '{"version":1,"node":"%s","instance":"%s","state":"%s","step":"%s","agent":"%s","detail":"%s","time":"%s"}\\n' \\
    "$NODE" "$INSTANCE" "$state" "$STEP" "$(cat "$WORK/agent.current" 2>/dev/null || true)" "$detail" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp"
  chmod 644 "$tmp" && mv -f "$tmp" "$WORK/status.json"
  [ -z "$STATUS_URL" ] || retry publish "$WORK/status.json" "$STATUS_URL" || log "warning: could not publish the status to $STATUS_URL"
}

on_exit() {
  local rc=$1
  [ "$rc" = 0 ] && return 0
  log "failed in step $STEP (exit $rc)"
  write_status "$FAIL_STATE" "\${LAST_ERROR:-exit $rc}" || true
}

# fetch_once URL DEST: the only place that knows about sources.
fetch_once() {
  local url=$1 dest=$2
  case "$url" in
    s3://*) aws $AWS_REGION_FLAG --cli-connect-timeout 10 --cli-read-timeout 120 s3 cp --only-show-errors "$url" "$dest" ;;
    ssm:*) aws $AWS_REGION_FLAG --cli-connect-timeout 10 ssm get-parameter --with-decryption --name "\${url#ssm:}" --query Parameter.Value --output text >"$dest" ;;
    file://*) cp -- "\${url#file://}" "$dest" ;;
    http://*|https://*) curl -fsS --connect-timeout 10 --max-time 600 -o "$dest" "$url" ;;
    *) die "unsupported source $url" ;;
  esac
}
fetch() { retry fetch_once "$1" "$2" || die "cannot fetch $1"; }

# publish FILE URL: the status report (the node role may write only its own key).
publish() {
  case "$2" in
    s3://*) aws $AWS_REGION_FLAG --cli-connect-timeout 10 s3 cp --only-show-errors --content-type application/json "$1" "$2" ;;
    file://*) mkdir -p "$(dirname "\${2#file://}")" && cp -- "$1" "\${2#file://}" ;;
  esac
}

# read_pointer URL: POINTED=the sha256 it holds, POINTER_FLAGS=the words after it.
read_pointer() {
  local tmp
  tmp=$(mktemp "$WORK/pointer.XXXXXX")
  fetch "$1" "$tmp"
  read -r POINTED POINTER_FLAGS <"$tmp" || true
  rm -f "$tmp"
  [[ $POINTED =~ ^[0-9a-f]{64}$ ]] || die "pointer $1 does not hold a sha256"
}

# fetch_pinned URL SHA DEST: the object, refused unless it has the sha256 its pointer named.
fetch_pinned() {
  fetch "$1" "$3"
  echo "$2  $3" | sha256sum -c --quiet - >/dev/null 2>&1 || { rm -f "$3"; die "$1 does not match the sha256 its pointer names ($2)"; }
}

# Docker 20.10 cannot start containers where the kernel has AppArmor and apparmor_parser is
# missing, and docker.io only recommends the apparmor package (dropped by --no-install-recommends).
apparmor_enabled() { [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || true)" = Y ]; }

# Packages come from the distro (Debian 12). Anything already present is kept, so a prepared image
# or a test machine skips apt entirely.
install_packages() {
  local need=()
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v docker >/dev/null 2>&1 || need+=(docker.io)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  command -v tar >/dev/null 2>&1 || need+=(tar)
  command -v flock >/dev/null 2>&1 || need+=(util-linux)
  # The environment image is built here, from a debootstrapped base (no registry needed).
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  if apparmor_enabled && ! command -v apparmor_parser >/dev/null 2>&1; then need+=(apparmor); fi
${needsAws ? "  command -v aws >/dev/null 2>&1 || need+=(awscli)\n" : ""}${needsCurl ? "  command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)\n" : ""}  if [ "\${#need[@]}" -gt 0 ]; then
    log "installing \${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    retry apt-get -o Acquire::Retries=3 update -q || die "apt-get update failed"
    retry apt-get -o Acquire::Retries=3 install -y -q --no-install-recommends "\${need[@]}" || die "apt-get install \${need[*]} failed"
  fi
}

install_self() {
  local src
  src=$(readlink -f "$0" 2>/dev/null || true)
  [ -f "$src" ] || die "run this script from a file (bash FILE), not from a pipe"
  [ "$src" = "$SELF" ] || install -m 0755 -o root -g root "$src" "$SELF"
}

# stage_agent SHA: STAGED=the verified, unpacked artifact (fetched only once per sha256).
stage_agent() {
  local sha=$1 dir=$WORK/agent-$1 tmp
  if [ ! -f "$dir/.verified" ]; then
    tmp=$(mktemp "$WORK/artifact.XXXXXX")
    fetch_pinned "$AGENT_BASE_URL$sha.tar.gz" "$sha" "$tmp"
    rm -rf "$dir" && mkdir -p "$dir"
    tar -xzf "$tmp" -C "$dir" --no-same-owner
    rm -f "$tmp"
    touch "$dir/.verified"
  fi
  STAGED=$dir
}

# apply_agent DIR SHA: the same install command an admin runs by hand.
apply_agent() {
  local node
  node=$(command -v node)
  PODSPAWN_INSTANCE=$INSTANCE node "$1/podspawn.cjs" install --instance "$INSTANCE" --bundle-dir "$1" --node "$node" >&2
  echo "$2" >"$WORK/agent.current"
}

# The default environment image, built by the agent's image kit (scripts/build-image, the code
# 'npm run up' runs): a content tag makes it a no-op when the image is current.
ensure_image() {
  if [ -f "$1/build-image.mjs" ]; then
    log "providing the environment image $DEFAULT_IMAGE"
    retry node "$1/build-image.mjs" --only default --tag "$DEFAULT_IMAGE" --default-context "$1/podfiles/default" >&2 || die "building $DEFAULT_IMAGE failed"
  fi
  docker image inspect "$DEFAULT_IMAGE" >/dev/null 2>&1 || die "the environment image $DEFAULT_IMAGE is not on this node"
  local config=/etc/$INSTANCE/config.yaml
  if [ ! -e "$config" ]; then
    printf '# Written by the node bootstrap; edit freely (it is never overwritten).\\nimage: %s\\n' "$DEFAULT_IMAGE" >"$config"
${c.acceptRunc ? ACCEPT_RUNC_WRITE : ""}  fi
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
  local script=${q(firewall)}
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
  "$script"
}

write_units() {
  have_systemd || return 0
${unitWrites(units)}
  systemctl daemon-reload
  ${p.blockMetadata === false ? "" : `systemctl enable "$INSTANCE"-block-metadata.service\n  `}systemctl enable --now "$INSTANCE"-sync.timer "$INSTANCE"-agent-update.timer
}

# Without systemd (containers, tests) long-running pieces get PID files so whoever started the
# bootstrap can stop exactly them. A pid is alive only if it is not a zombie: where PID 1 reaps
# nothing (a container), a stopped daemon stays a zombie and kill -0 still succeeds.
alive() { local state; state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]; }

start_bg() {
  local name=$1; shift
  local pidfile=$RUN/$name.pid
  if [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; then return 0; fi
  # 9>&-: a child must not inherit (and so hold forever) the lock of with_lock.
  nohup setsid "$@" >>"/var/log/$INSTANCE-$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$pidfile"
}

stop_bg() {
  local pidfile=$RUN/$1.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

start_daemon() {
  if have_systemd; then
    systemctl daemon-reload
    systemctl enable --now "$INSTANCE"d.service
  else
    start_bg daemon env PODSPAWN_INSTANCE="$INSTANCE" "$COMMAND" daemon
  fi
  for _ in $(seq 1 120); do "$COMMAND" status >/dev/null 2>&1 && return 0; sleep 0.25; done
  die "the node daemon did not answer on its control socket"
}

stop_daemon() {
  if have_systemd; then systemctl stop "$INSTANCE"d.service; else stop_bg daemon; fi
}

start_loops() {
  have_systemd && return 0
  start_bg sync-loop bash -c "while sleep $SYNC_INTERVAL; do $SELF sync-users || true; done"
  start_bg agent-loop bash -c "while sleep $AGENT_POLL; do $SELF update-agent || true; done"
}

setup_sshd() {
  mkdir -p /run/sshd
  PODSPAWN_INSTANCE=$INSTANCE "$COMMAND" server-setup "\${SSHD_FLAGS[@]}" --auth file >&2
  if have_systemd; then
    systemctl reload-or-restart ssh.service
  elif [ -n "$SSHD_PID_FILE" ] && [ -f "$SSHD_PID_FILE" ] && alive "$(cat "$SSHD_PID_FILE")"; then
    kill -HUP "$(cat "$SSHD_PID_FILE")"
  else
    /usr/sbin/sshd -f "$SSHD_CONFIG"
  fi
}

with_lock() {
  mkdir -p "$RUN" "$WORK" && chmod 700 "$WORK"
  exec 9>"$RUN/node.lock"
  flock 9
  "$@"
}

${projects ? PROJECTS_SYNC : SYNC_USERS}
cmd_update_agent() {
  FAIL_STATE=upgrade-failed
  trap 'on_exit $?' EXIT
  local want have out rc=0 drained_here=0
  read_pointer "$AGENT_POINTER_URL"
  want=$POINTED
  have=$(cat "$WORK/agent.current" 2>/dev/null || true)
  if [ "$want" = "$have" ]; then log "agent \${want:0:12} is current"; return 0; fi
  step upgrade
  log "agent upgrade \${have:0:12} -> \${want:0:12}"
  stage_agent "$want"
  ensure_image "$STAGED"
  # New environments go to other nodes; sessions here may end on their own until the deadline.
  out=$("$COMMAND" drain --json --reason "agent upgrade to \${want:0:12}" --wait "\${UPGRADE_MAX_WAIT}s" "\${SSHD_FLAGS[@]}") || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || die "podspawn drain failed (exit $rc)"
  [ "$rc" = 3 ] && log "sessions still open after \${UPGRADE_MAX_WAIT} s; restarting anyway (their containers stay)"
  [[ $out == *'"wasDrained":false'* ]] && drained_here=1
  stop_daemon
  apply_agent "$STAGED" "$want"
  start_daemon
  # An operator's drain stays; only the upgrade's own is lifted.
  [ "$drained_here" = 1 ] && "$COMMAND" undrain "\${SSHD_FLAGS[@]}" >&2
  write_status ready "agent \${want:0:12}"
  log "agent \${want:0:12} running"
}

cmd_bootstrap() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  mkdir -p "$WORK" "$RUN" && chmod 700 "$WORK"
  trap 'on_exit $?' EXIT
  install_self
  write_status booting
  step packages; install_packages
  step agent; read_pointer "$AGENT_POINTER_URL"; stage_agent "$POINTED"; apply_agent "$STAGED" "$POINTED"
  step host-key; install_host_key
  step docker; ensure_docker
  step image; ensure_image "$STAGED"
  step firewall; write_firewall
  step daemon; start_daemon
  step users; cmd_sync_users
  step timers; write_units; start_loops
  step sshd; setup_sshd
  step ready; write_status ready
  log "node ready"
}

case "\${1:-bootstrap}" in
  bootstrap) cmd_bootstrap ;;
  sync-users) with_lock cmd_sync_users ;;
  update-agent) with_lock cmd_update_agent ;;
  *) die "usage: $0 [bootstrap|sync-users|update-agent]" ;;
esac
`;
}

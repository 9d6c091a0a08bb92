#!/usr/bin/env bash
# Prepares a Debian 12 host for a podspawn node: the packages the node and its tests need, a running
# Docker engine with gVisor's runsc registered as a runtime, and /run/sshd. Used by .ci/run and by
# `npm run up`. Idempotent: a second run installs nothing, starts nothing and changes nothing.
#
# There is no systemd here and package installs do not start services, so dockerd is started by
# hand (see shared HOST-NOTES "Docker engine"). Never a second dockerd: in the root network
# namespace it would fight the first one over docker0 and iptables.
set -euo pipefail

PACKAGES=(docker.io openssh-server openssh-sftp-server openssh-client rsync busybox-static debootstrap
  tmux iproute2 iptables ca-certificates procps curl xauth runsc)
DOCKERD_PID_FILE=/run/podspawn-dockerd.pid
DOCKERD_LOG=/var/log/podspawn-dockerd.log
DOCKERD_CONFIG=/etc/docker/daemon.json
# dockerd is shared by everything on the machine (every worktree's tests): whoever changes its
# config holds this lock, the one the integration and e2e suites run under.
ENGINE_LOCK=/run/podspawn-e2e.lock

log() { printf 'provision-host: %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root"
  exit 1
fi

# --- packages: apt-get update at most once, and only when something is missing -----------------
missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "packages already installed"
fi

# --- Docker engine ---------------------------------------------------------------------------
docker_ready() { docker info >/dev/null 2>&1; }

# --- gVisor: runsc registered with dockerd -----------------------------------------------------
# Debian 12's runsc (a 2022 build) starts containers here only with --network=host: the sandbox
# then uses the network stack of the container's own namespace (its veth on the user's bridge,
# under the same iptables rules) instead of gVisor's netstack. docs/security.md has what that means.
# --oci-seccomp: without it runsc ignores the container's seccomp profile (Docker's default, which
# the container spec relies on) and processes in the sandbox run with no filter at all.
RUNSC_PATH=$(command -v runsc || echo /usr/bin/runsc)
RUNSC_ARGS='["--network=host","--oci-seccomp"]'

# runsc_entry_state: "ours" when daemon.json registers runsc exactly as we do, else "absent" or
# "other" (registered some other way, e.g. by an earlier version of this script: without both
# arguments podspawn's containers do not start or lose their seccomp filter, so it is replaced).
runsc_entry_state() {
  RUNSC_PATH=$RUNSC_PATH RUNSC_ARGS=$RUNSC_ARGS node -e '
    const fs = require("fs");
    let c = {};
    try { c = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch (e) { if (e.code !== "ENOENT") { console.error(String(e)); process.exit(2); } }
    const r = c && c.runtimes && c.runtimes.runsc;
    const ours = { path: process.env.RUNSC_PATH, runtimeArgs: JSON.parse(process.env.RUNSC_ARGS) };
    console.log(r === undefined ? "absent" : JSON.stringify(r) === JSON.stringify(ours) ? "ours" : "other");
  ' "$DOCKERD_CONFIG"
}

# Sets runtimes.runsc in daemon.json, keeping every other key and runtime as it was; written to a
# temp file and renamed, so dockerd never reads half a file.
register_runsc() {
  mkdir -p "$(dirname "$DOCKERD_CONFIG")"
  RUNSC_PATH=$RUNSC_PATH RUNSC_ARGS=$RUNSC_ARGS node -e '
    const fs = require("fs");
    const file = process.argv[1];
    let c = {};
    try { c = JSON.parse(fs.readFileSync(file, "utf8")); } catch (e) { if (e.code !== "ENOENT") throw e; }
    const before = c.runtimes && c.runtimes.runsc;
    if (before !== undefined) console.error(`provision-host: replacing runtimes.runsc ${JSON.stringify(before)}`);
    c.runtimes = { ...(c.runtimes || {}), runsc: { path: process.env.RUNSC_PATH, runtimeArgs: JSON.parse(process.env.RUNSC_ARGS) } };
    fs.writeFileSync(file + ".tmp", JSON.stringify(c, null, 2) + "\n", { mode: 0o644 });
    fs.renameSync(file + ".tmp", file);
  ' "$DOCKERD_CONFIG"
}

# dockerd has loaded our entry (after a SIGHUP it lists the new arguments).
dockerd_knows_runsc() { docker info --format '{{json .Runtimes.runsc}}' 2>/dev/null | grep -qF -- "$RUNSC_ARGS"; }

# Run with the engine lock held: register runsc, and have a running dockerd load it. dockerd
# re-reads `runtimes` on SIGHUP (no restart: live containers and other users stay untouched).
ensure_runsc_registered() {
  local state
  state=$(runsc_entry_state) || { log "cannot read $DOCKERD_CONFIG"; return 1; }
  if [[ $state != ours ]]; then
    log "registering runsc ($RUNSC_PATH $RUNSC_ARGS) in $DOCKERD_CONFIG"
    register_runsc
  fi
  docker_ready || return 0 # dockerd, when started below, reads the file
  dockerd_knows_runsc && return 0
  # The engine on the default socket, by its own pid file: other dockerds (a fleet test's, in
  # network namespaces of their own) are not ours to signal.
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [[ -z $pid || $(cat "/proc/$pid/comm" 2>/dev/null) != dockerd ]]; then
    log "dockerd answers but /var/run/docker.pid names no live dockerd to signal"
    return 1
  fi
  log "asking dockerd (pid $pid) to reload its config (SIGHUP)"
  kill -HUP "$pid"
  local i
  for i in $(seq 1 40); do
    dockerd_knows_runsc && { log "dockerd lists runsc"; return 0; }
    sleep 0.25
  done
  log "dockerd did not pick up runsc after SIGHUP; see $DOCKERD_LOG"
  return 1
}

# The lock only when something is to change: the e2e suite (which holds it) runs this script to
# bring a stopped dockerd back, and by then runsc is registered already.
if [[ $(runsc_entry_state) != ours ]] || { docker_ready && ! dockerd_knows_runsc; }; then
  # Released before dockerd may be started below, so it never inherits the lock; -w: a lock held
  # elsewhere for too long is an error, not a hang.
  exec {lock_fd}>>"$ENGINE_LOCK"
  if ! flock -w 900 "$lock_fd"; then
    log "could not take $ENGINE_LOCK within 900 s (someone holds the shared engine)"
    exit 1
  fi
  ensure_runsc_registered
  exec {lock_fd}>&-
else
  log "runsc already registered with dockerd"
fi

# clear_stale_pidfile FILE NAME: remove FILE unless its pid is a live (non-zombie) process NAME.
clear_stale_pidfile() {
  local file=$1 name=$2 pid comm state
  [[ -f $file ]] || return 0
  pid=$(cat "$file" 2>/dev/null || true)
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  if [[ $comm != "$name" || $state == Z ]]; then
    log "removing stale $file (pid ${pid:-?} is not a live $name)"
    rm -f "$file"
  fi
}

wait_for_docker() {
  local i
  for i in $(seq 1 120); do
    docker_ready && return 0
    sleep 0.25
  done
  docker_ready
}

if docker_ready; then
  log "docker engine already running"
elif pid=$(pidof dockerd 2>/dev/null); then
  # Some dockerd exists but is not answering yet (just started, by us or anyone): wait, never add one.
  log "dockerd (pid $pid) is running but not ready; waiting"
  if ! wait_for_docker; then
    log "dockerd (pid $pid) did not become ready"
    [[ -f $DOCKERD_LOG ]] && tail -50 "$DOCKERD_LOG" >&2
    exit 1
  fi
else
  # A dockerd killed without cleanup (as CI does between runs) leaves pid files behind: its own,
  # and the one of the containerd it runs. A new dockerd trusts any pid in them that exists (a
  # zombie, or a pid reused by anything) and refuses to start, or waits for a containerd that is
  # not there. Clear each one whose pid is not a live process of the right name.
  clear_stale_pidfile /var/run/docker.pid dockerd
  clear_stale_pidfile /var/run/docker/containerd/containerd.pid containerd
  log "starting dockerd (log $DOCKERD_LOG)"
  # setsid: dockerd must outlive this script and the CI step's process group.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$DOCKERD_PID_FILE"
  if ! wait_for_docker; then
    log "dockerd did not become ready; last lines of $DOCKERD_LOG:"
    tail -50 "$DOCKERD_LOG" >&2
    exit 1
  fi
  log "dockerd ready (pid $(cat "$DOCKERD_PID_FILE"))"
fi

# --- sshd's privilege separation directory (tmpfs /run is empty after boot) --------------------
mkdir -p /run/sshd
chmod 0755 /run/sshd

log "host ready"

#!/usr/bin/env bash
# Prepares a Debian 12 host for a podspawn node: the packages the node and its tests need, a running
# Docker engine, and /run/sshd. Used by .ci/run and by `npm run up`. Idempotent: a second run
# installs nothing and starts nothing.
#
# There is no systemd here and package installs do not start services, so dockerd is started by
# hand (see shared HOST-NOTES "Docker engine"). Never a second dockerd: in the root network
# namespace it would fight the first one over docker0 and iptables.
set -euo pipefail

PACKAGES=(docker.io openssh-server openssh-sftp-server openssh-client rsync busybox-static debootstrap
  tmux iproute2 iptables ca-certificates procps curl xauth)
DOCKERD_PID_FILE=/run/podspawn-dockerd.pid
DOCKERD_LOG=/var/log/podspawn-dockerd.log

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

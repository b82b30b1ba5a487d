#!/usr/bin/env bash
# Makes a Docker Engine API socket available for the runner's tests: Podman's compatible service on
# /run/podman/podman.sock. Idempotent; run it as root on Debian. Prints (on stdout, nothing else) the line to eval:
#   eval "$(scripts/setup-podman.sh)"   →   export DOCKER_HOST=unix:///run/podman/podman.sock
#
# 1. installs podman, runc and busybox-static with apt-get when one is missing (root only);
# 2. writes /etc/containers/containers.conf: runc as the OCI runtime (crun fails on this machine's cgroups) and
#    explicit ulimits. An existing file with other content is backed up first (…containers.conf.bak.<time>);
# 3. starts `podman system service --time=0 unix:///run/podman/podman.sock` in the background (log:
#    /tmp/podman-service.log) when the socket does not answer, and waits for it to answer.
set -euo pipefail

SOCKET_PATH=/run/podman/podman.sock
SOCKET_URL="unix://$SOCKET_PATH"
LOG=/tmp/podman-service.log
CONF=/etc/containers/containers.conf

log() { echo "setup-podman: $*" >&2; }

socket_answers() {
  [ -S "$SOCKET_PATH" ] || return 1
  if command -v curl >/dev/null; then
    curl -fsS --max-time 5 --unix-socket "$SOCKET_PATH" http://d/_ping >/dev/null 2>&1
  else
    podman --url "$SOCKET_URL" version >/dev/null 2>&1
  fi
}

# 1. packages
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
# The test images need the static busybox (Debian's `busybox` package is dynamically linked).
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "missing ${missing[*]}: install them (as root: apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# 2. containers.conf
want_conf='# Written by scripts/setup-podman.sh: crun fails on this machine'"'"'s cgroups, runc works.
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=1024:1024"]

[engine]
runtime = "runc"'
if [ "$(id -u)" = 0 ]; then
  if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want_conf" ]; then
    mkdir -p "$(dirname "$CONF")"
    if [ -f "$CONF" ]; then
      backup="$CONF.bak.$(date +%Y%m%d%H%M%S)"
      cp -p "$CONF" "$backup"
      log "backed up the existing $CONF to $backup"
    fi
    printf '%s\n' "$want_conf" >"$CONF"
    log "wrote $CONF"
  fi
else
  log "not root: leaving $CONF as it is"
fi

# 3. the API service
if socket_answers; then
  log "$SOCKET_URL already answers"
else
  mkdir -p "$(dirname "$SOCKET_PATH")"
  # A stale socket file from a dead service would make `podman system service` fail.
  [ -S "$SOCKET_PATH" ] && rm -f "$SOCKET_PATH"
  log "starting podman system service on $SOCKET_URL (log: $LOG)"
  nohup podman system service --time=0 "$SOCKET_URL" >>"$LOG" 2>&1 </dev/null &
  disown || true
  for _ in $(seq 1 60); do
    socket_answers && break
    sleep 0.5
  done
  if ! socket_answers; then
    log "the podman service did not answer on $SOCKET_URL within 30 s; see $LOG:"
    tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
  log "$SOCKET_URL answers"
fi

echo "export DOCKER_HOST=$SOCKET_URL"

#!/usr/bin/env bash
# A real OCI registry for the tests that pull images: Debian's `docker-registry` (the CNCF distribution registry)
# on 127.0.0.1:${THV_TEST_OCI_PORT:-55000}, plain HTTP, storage under /tmp/thv-oci-registry. Idempotent; run as
# root on Debian. Prints (on stdout, nothing else) the line to eval:
#   eval "$(scripts/start-oci-registry.sh)"   →   export THV_TEST_OCI_REGISTRY=127.0.0.1:55000
#
# Podman pulls from it over plain HTTP only when registries.conf marks it insecure: the script writes
# /etc/containers/registries.conf.d/50-thv-test-registry.conf for that one address. Podman's API service reads the
# file when it starts: run this script before scripts/setup-podman.sh (as .ci/run does), or restart the service.
set -euo pipefail

PORT=${THV_TEST_OCI_PORT:-55000}
ADDR=127.0.0.1:$PORT
DIR=/tmp/thv-oci-registry
LOG=/tmp/thv-oci-registry.log
CONF=/etc/containers/registries.conf.d/50-thv-test-registry.conf

log() { echo "start-oci-registry: $*" >&2; }
answers() { curl -fsS --max-time 3 "http://$ADDR/v2/" >/dev/null 2>&1; }

if ! command -v docker-registry >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "docker-registry is missing (as root: apt-get install docker-registry)"
    exit 1
  fi
  log "installing docker-registry"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >&2
fi

want="# Written by scripts/start-oci-registry.sh: the tests' local registry speaks plain HTTP.
[[registry]]
location = \"$ADDR\"
insecure = true"
if [ "$(id -u)" = 0 ] && { [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want" ]; }; then
  mkdir -p "$(dirname "$CONF")"
  printf '%s\n' "$want" >"$CONF"
  log "wrote $CONF (restart Podman's API service if it runs already)"
fi

if answers; then
  log "http://$ADDR already answers"
else
  mkdir -p "$DIR"
  cat >"$DIR/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: $ADDR
YAML
  log "starting docker-registry on http://$ADDR (log: $LOG)"
  nohup docker-registry serve "$DIR/config.yml" >>"$LOG" 2>&1 </dev/null &
  disown || true
  for _ in $(seq 1 50); do
    answers && break
    sleep 0.2
  done
  if ! answers; then
    log "docker-registry did not answer on $ADDR; see $LOG:"
    tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
fi
echo "export THV_TEST_OCI_REGISTRY=$ADDR"

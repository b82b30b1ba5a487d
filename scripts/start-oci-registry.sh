#!/usr/bin/env bash
# Real OCI registries for the tests that pull images: Debian's `docker-registry` (the CNCF distribution registry)
# on 127.0.0.1:${THV_TEST_OCI_PORT:-55000}, plain HTTP, storage under /tmp/thv-oci-registry; and a private one
# next to it (port + 1, storage under /tmp/thv-oci-registry-auth) that requires basic auth (htpasswd, user
# `thv-test`, a fixed test password: a throwaway local registry). Idempotent; run as root on Debian. Prints (on
# stdout, nothing else) the lines to eval:
#   eval "$(scripts/start-oci-registry.sh)"   →   export THV_TEST_OCI_REGISTRY=127.0.0.1:55000
#                                                 export THV_TEST_OCI_AUTH_REGISTRY=127.0.0.1:55001
#                                                 export THV_TEST_OCI_AUTH=thv-test:<the fixed test password>
#
# Podman pulls from them over plain HTTP only when registries.conf marks them insecure: the script writes
# /etc/containers/registries.conf.d/50-thv-test-registry.conf for those addresses. Podman's API service reads the
# file when it starts: run this script before scripts/setup-podman.sh (as .ci/run does), or restart the service.
set -euo pipefail

PORT=${THV_TEST_OCI_PORT:-55000}
ADDR=127.0.0.1:$PORT
AUTH_ADDR=127.0.0.1:$((PORT + 1))
AUTH_USER=thv-test
AUTH_PASSWORD=thv-test-registry-password
CONF=/etc/containers/registries.conf.d/50-thv-test-registry.conf

log() { echo "start-oci-registry: $*" >&2; }

if ! command -v docker-registry >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "docker-registry is missing (as root: apt-get install docker-registry)"
    exit 1
  fi
  log "installing docker-registry"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >&2
fi

want="# Written by scripts/start-oci-registry.sh: the tests' local registries speak plain HTTP.
[[registry]]
location = \"$ADDR\"
insecure = true

[[registry]]
location = \"$AUTH_ADDR\"
insecure = true"
if [ "$(id -u)" = 0 ] && { [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want" ]; }; then
  mkdir -p "$(dirname "$CONF")"
  printf '%s\n' "$want" >"$CONF"
  log "wrote $CONF (restart Podman's API service if it runs already)"
fi

# start ADDR DIR [AUTH_YAML]: a docker-registry on ADDR storing under DIR, unless something answers there.
start() {
  local addr=$1 dir=$2 auth=${3:-} log=$2.log
  answers() { curl -sS --max-time 3 -o /dev/null -w '%{http_code}' "http://$addr/v2/" 2>/dev/null | grep -qE '^(200|401)$'; }
  if answers; then
    log "http://$addr already answers"
    return
  fi
  mkdir -p "$dir"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $addr
$auth
YAML
  log "starting docker-registry on http://$addr (log: $log)"
  nohup docker-registry serve "$dir/config.yml" >>"$log" 2>&1 </dev/null &
  disown || true
  for _ in $(seq 1 50); do
    answers && break
    sleep 0.2
  done
  if ! answers; then
    log "docker-registry did not answer on $addr; see $log:"
    tail -n 20 "$log" >&2 || true
    exit 1
  fi
}

start "$ADDR" /tmp/thv-oci-registry
# An htpasswd line (bcrypt, what docker-registry takes): htpasswd, else Python's crypt, else install htpasswd.
htpasswd_line() {
  if command -v htpasswd >/dev/null; then
    htpasswd -Bbn "$1" "$2"
  elif python3 -c 'import crypt' 2>/dev/null; then
    python3 -W ignore -c 'import crypt, sys; print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))' "$1" "$2"
  else
    log "installing apache2-utils (htpasswd)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apache2-utils >&2
    htpasswd -Bbn "$1" "$2"
  fi
}
mkdir -p /tmp/thv-oci-registry-auth
htpasswd_line "$AUTH_USER" "$AUTH_PASSWORD" >/tmp/thv-oci-registry-auth/htpasswd
start "$AUTH_ADDR" /tmp/thv-oci-registry-auth "auth:
  htpasswd:
    realm: thv-test
    path: /tmp/thv-oci-registry-auth/htpasswd"
echo "export THV_TEST_OCI_REGISTRY=$ADDR"
echo "export THV_TEST_OCI_AUTH_REGISTRY=$AUTH_ADDR"
echo "export THV_TEST_OCI_AUTH=$AUTH_USER:$AUTH_PASSWORD"

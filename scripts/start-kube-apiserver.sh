#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 for the tests: etcd, kube-apiserver and kube-controller-manager,
# built from the Go module proxy (once per version, cached under ~/.cache/thv-kube), with generated certificates.
# Prints the exports to eval (KUBECONFIG, THV_TEST_KUBECONFIG); idempotent: a running control plane that answers
# is reused. `scripts/start-kube-apiserver.sh stop` stops it; `... build` only builds the binaries.
#
# No Debian package ships kube-apiserver, and Debian's etcd is too old for it
# (../shared/reference/kubernetes-test-cluster.md): kubernetes' own go.mod replaces its staging modules with
# paths inside its repository, so it is built in a throwaway module that replaces them with their published
# releases.
set -euo pipefail

KUBE_VERSION=${THV_KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${THV_ETCD_VERSION:-v3.7.3}
ETCD_PORT=${THV_TEST_ETCD_PORT:-52379}
APISERVER_PORT=${THV_TEST_KUBE_PORT:-56443}
STATE=${THV_TEST_KUBE_DIR:-/tmp/thv-test-kube}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/thv-kube"
bin="$cache/bin-$KUBE_VERSION-etcd-$ETCD_VERSION"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
# Keys, the kubeconfig (which holds the admin key) and etcd's data are the user's only, from their creation.
umask 077

say() { echo "start-kube-apiserver: $*" >&2; }

staging_modules="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client
cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
sample-apiserver sample-cli-plugin sample-controller streaming"

build_kubernetes() {
  local mod="$cache/mod-$KUBE_VERSION" staging="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$mod"
  {
    printf 'module thv-kube-build\n\ngo 1.26.0\n\nreplace (\n'
    for m in $staging_modules; do printf '\tk8s.io/%s => k8s.io/%s %s\n' "$m" "$m" "$staging"; done
    printf ')\n'
  } > "$mod/go.mod"
  rm -f "$mod/go.sum"
  say "resolving k8s.io/kubernetes $KUBE_VERSION (staging modules at $staging)"
  (cd "$mod" && go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION") >&2
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local v=k8s.io/component-base/version
  local ldflags="-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
  for cmd in kube-apiserver kube-controller-manager; do
    say "building $cmd $KUBE_VERSION (the first time takes 10-25 minutes)"
    (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$bin.partial/$cmd" "k8s.io/kubernetes/cmd/$cmd") >&2
  done
}

build_etcd() {
  local mod="$cache/etcd-mod-$ETCD_VERSION"
  mkdir -p "$mod"
  printf 'module thv-etcd-build\n\ngo 1.26.0\n' > "$mod/go.mod"
  rm -f "$mod/go.sum"
  say "building etcd $ETCD_VERSION"
  (cd "$mod" && go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
    go build -trimpath -ldflags "-s -w" -o "$bin.partial/etcd" go.etcd.io/etcd/server/v3) >&2
}

# The build's module downloads and compiler cache (about 8 GiB for kubernetes) live in a scratch directory that
# is removed afterwards: only the binaries are kept, so a CI machine's disk is left to the tests.
build() {
  [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ] && [ -x "$bin/etcd" ] && return 0
  local scratch="$cache/build-scratch"
  remove_scratch "$scratch"
  rm -rf "$bin.partial"
  mkdir -p "$bin.partial" "$scratch"
  (
    export GOCACHE="$scratch/gocache" GOMODCACHE="$scratch/gomod"
    build_etcd
    build_kubernetes
  )
  rm -rf "$bin"
  mv "$bin.partial" "$bin"
  remove_scratch "$scratch"
}

# Go writes its module cache read-only; make it writable before removing it.
remove_scratch() {
  [ -e "$1" ] || return 0
  chmod -R u+w "$1" 2>/dev/null || true
  rm -rf "$1"
}

# Whether the pid file of component $1 names a live process of our binary (a stale pid file may name another
# process by now: that one is never signalled).
running() {
  local pid
  pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$bin/$1" ]
}

# Stops the components and waits until they have exited (SIGKILL after 30 s), so that their ports are free.
stop() {
  local p pid
  for p in kube-controller-manager kube-apiserver etcd; do
    if running "$p"; then
      pid=$(cat "$STATE/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 150); do
        running "$p" || break
        sleep 0.2
      done
      if running "$p"; then
        say "$p ($pid) did not exit within 30 s: killing it"
        kill -9 "$pid" 2>/dev/null || true
        sleep 0.5
      fi
    fi
    rm -f "$STATE/$p.pid"
  done
}

exports() {
  printf 'export KUBECONFIG=%q\n' "$STATE/kubeconfig"
  printf 'export THV_TEST_KUBECONFIG=%q\n' "$STATE/kubeconfig"
}

# Fails, naming it, when something already listens on 127.0.0.1:$1 (another control plane's etcd would answer
# this one's health check).
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    say "127.0.0.1:$1 ($2) is already in use: stop what listens there, or choose other ports (THV_TEST_ETCD_PORT, THV_TEST_KUBE_PORT)"
    stop
    exit 1
  fi
}

# A component that exited: its log's end, and what was started is stopped again.
failed() {
  tail -20 "$STATE/$1.log" >&2
  say "$2"
  stop
  exit 1
}

ready() {
  curl -sf --max-time 3 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1
}

# A CA, the apiserver's serving certificate (a leaf for 127.0.0.1 and localhost), a client certificate in
# system:masters for the tests and the controller manager, and the service-account signing key.
certificates() {
  local pki="$STATE/pki"
  mkdir -p "$pki"
  [ -f "$pki/admin.crt" ] || (
    cd "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=thv-test-kube-ca" \
      -keyout ca.key -out ca.crt -addext basicConstraints=critical,CA:TRUE \
      -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    leaf() { # name subject extensions...
      local name=$1 subject=$2
      shift 2
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
        -keyout "$name.key" -out "$name.csr" 2>/dev/null
      printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "$@" \
        > "$name.ext"
      openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    }
    leaf apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
    leaf admin "/O=system:masters/CN=thv-test-admin" "extendedKeyUsage=clientAuth"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  # Written at every start: the port may have changed.
  local b64="base64 -w0"
  cat > "$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: thv-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $($b64 < "$pki/ca.crt")
users:
- name: thv-test-admin
  user:
    client-certificate-data: $($b64 < "$pki/admin.crt")
    client-key-data: $($b64 < "$pki/admin.key")
contexts:
- name: thv-test
  context:
    cluster: thv-test
    user: thv-test-admin
    namespace: default
current-context: thv-test
EOF
}

start() {
  build
  mkdir -p "$STATE"
  if ready && running kube-controller-manager; then
    say "the control plane on https://127.0.0.1:$APISERVER_PORT answers (kubeconfig $STATE/kubeconfig)"
    exports
    return 0
  fi
  stop
  certificates
  local pki="$STATE/pki"
  port_free "$ETCD_PORT" "etcd's clients"
  port_free "$((ETCD_PORT + 1))" "etcd's metrics"
  port_free "$APISERVER_PORT" "kube-apiserver"
  # etcd's data is kept: a restart after one component died keeps the cluster's objects.
  say "starting etcd on 127.0.0.1:$ETCD_PORT (log: $STATE/etcd.log)"
  "$bin/etcd" --data-dir "$STATE/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls http://127.0.0.1:0 \
    --listen-metrics-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync \
    > "$STATE/etcd.log" 2>&1 &
  echo $! > "$STATE/etcd.pid"
  for _ in $(seq 1 100); do
    curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break
    running etcd || failed etcd "etcd exited"
    sleep 0.2
  done
  running etcd || failed etcd "etcd exited"
  say "starting kube-apiserver $KUBE_VERSION on https://127.0.0.1:$APISERVER_PORT (log: $STATE/kube-apiserver.log)"
  "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
    --authorization-mode RBAC --disable-admission-plugins ServiceAccount --endpoint-reconciler-type none \
    --service-account-issuer "https://127.0.0.1:$APISERVER_PORT/" --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" --cert-dir "$STATE/cert-dir" \
    > "$STATE/kube-apiserver.log" 2>&1 &
  echo $! > "$STATE/kube-apiserver.pid"
  for _ in $(seq 1 300); do
    ready && break
    running kube-apiserver || failed kube-apiserver "kube-apiserver exited"
    sleep 0.2
  done
  ready || failed kube-apiserver "kube-apiserver is not ready after 60 s"
  say "starting kube-controller-manager (log: $STATE/kube-controller-manager.log)"
  "$bin/kube-controller-manager" --kubeconfig "$STATE/kubeconfig" --controllers '*' --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 0 --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --use-service-account-credentials=false \
    > "$STATE/kube-controller-manager.log" 2>&1 &
  echo $! > "$STATE/kube-controller-manager.pid"
  sleep 1
  running kube-controller-manager || failed kube-controller-manager "kube-controller-manager exited"
  say "the control plane answers (kubeconfig $STATE/kubeconfig)"
  exports
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  build) build ;;
  *) echo "usage: $0 [start|stop|build]" >&2; exit 2 ;;
esac

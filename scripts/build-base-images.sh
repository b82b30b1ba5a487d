#!/usr/bin/env bash
# Builds the local base images that package images (`thv run uvx://…`, `npx://…`, `go://…`) are built FROM.
# Public images (python, node, golang) cannot be pulled on air-gapped sites nor on this project's machines, so
# the bases are made from Debian's packages only:
#
#   localhost/thv-base-debian:bookworm  debootstrap --variant=minbase bookworm + ca-certificates, imported with
#                                       `podman import` (the root of the three others; also the runtime stage
#                                       of go:// images, whose binaries are static)
#   localhost/thv-base-python:bookworm  + python3 python3-venv python3-pip (Python 3.11)
#   localhost/thv-base-node:bookworm    + Node.js and npm: by default the host's node binary and npm
#                                       (THV_BASE_NODE_FROM=host), or Debian's nodejs + npm
#                                       (THV_BASE_NODE_FROM=debian: Node 18)
#   localhost/thv-base-go:bookworm      + Go and git: by default the host's Go toolchain (THV_BASE_GO_FROM=host,
#                                       when `go` on PATH is 1.21 or later; rebuilt when the host's Go changes),
#                                       or Debian's golang-go (THV_BASE_GO_FROM=debian: Go 1.19, too old for
#                                       modules whose go.mod asks for a newer Go)
#
# Why the host's node by default: Debian bookworm ships Node 18, end-of-life, and the npm packages MCP servers
# are published as increasingly expect Node >= 20; this project's machines have Node 20 (a self-contained
# binary linking only libc, libstdc++ and libgcc, all in the Debian base), and copying it is also much faster
# than Debian's npm with its ~300 node-* packages. THV_BASE_NODE_FROM=debian works without a host Node.js.
#
# The three derived images are built with `podman build` FROM the Debian base, with apt-get reaching the
# Debian mirror from the build container. Idempotent: an image that exists is skipped unless --rebuild is given.
#
# Usage: scripts/build-base-images.sh [--rebuild]
# Environment (all optional):
#   THV_BASE_DEBIAN_IMAGE, THV_BASE_PYTHON_IMAGE, THV_BASE_NODE_IMAGE, THV_BASE_GO_IMAGE   the tags
#   THV_BASE_SUITE (bookworm), THV_BASE_MIRROR (http://deb.debian.org/debian)
#   THV_BASE_NODE_FROM (host | debian; default host when `node` is on PATH and reports v20 or later)
#   THV_BASE_GO_FROM (host | debian; default host when `go` is on PATH and reports go1.21 or later)
# Needs podman and root (debootstrap is installed with apt-get when missing).
set -euo pipefail

SUITE=${THV_BASE_SUITE:-bookworm}
MIRROR=${THV_BASE_MIRROR:-http://deb.debian.org/debian}
DEBIAN_IMAGE=${THV_BASE_DEBIAN_IMAGE:-localhost/thv-base-debian:$SUITE}
PYTHON_IMAGE=${THV_BASE_PYTHON_IMAGE:-localhost/thv-base-python:$SUITE}
NODE_IMAGE=${THV_BASE_NODE_IMAGE:-localhost/thv-base-node:$SUITE}
GO_IMAGE=${THV_BASE_GO_IMAGE:-localhost/thv-base-go:$SUITE}
REBUILD=0

log() { echo "build-base-images: $*" >&2; }
die() {
  log "$*"
  exit 1
}

for arg in "$@"; do
  case "$arg" in
  --rebuild) REBUILD=1 ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument '$arg' (expected --rebuild)" ;;
  esac
done

command -v podman >/dev/null || die "podman is missing (scripts/setup-podman.sh installs it)"

host_node_ok() {
  local node v
  node=$(command -v node 2>/dev/null) || return 1
  v=$("$node" --version 2>/dev/null) || return 1
  v=${v#v}
  [ "${v%%.*}" -ge 20 ] 2>/dev/null
}
if [ -z "${THV_BASE_NODE_FROM:-}" ]; then
  if host_node_ok; then THV_BASE_NODE_FROM=host; else THV_BASE_NODE_FROM=debian; fi
fi
case "$THV_BASE_NODE_FROM" in
host | debian) ;;
*) die "THV_BASE_NODE_FROM='$THV_BASE_NODE_FROM': expected host or debian" ;;
esac

host_go_version() {
  local v
  v=$(go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  local major=${v%%.*} rest=${v#*.}
  [ "$major" = 1 ] && [ "${rest%%.*}" -ge 21 ] 2>/dev/null || return 1
  echo "go$v"
}
if [ -z "${THV_BASE_GO_FROM:-}" ]; then
  if host_go_version >/dev/null; then THV_BASE_GO_FROM=host; else THV_BASE_GO_FROM=debian; fi
fi
case "$THV_BASE_GO_FROM" in
host | debian) ;;
*) die "THV_BASE_GO_FROM='$THV_BASE_GO_FROM': expected host or debian" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
built=()
skipped=()

# Whether to (re)build $1; skips (and says so) an image that exists, unless --rebuild.
wanted() {
  if [ "$REBUILD" = 0 ] && podman image exists "$1"; then
    log "$1 already present (--rebuild to rebuild it)"
    skipped+=("$1")
    return 1
  fi
  return 0
}

# Times one build: done NAME START.
done_msg() {
  log "built $1 in $(($(date +%s) - $2)) s"
  built+=("$1")
}

build_debian() {
  local t0 root
  t0=$(date +%s)
  if ! command -v debootstrap >/dev/null; then
    [ "$(id -u)" = 0 ] || die "debootstrap is missing (as root: apt-get install debootstrap)"
    log "installing debootstrap"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
  fi
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  root="$work/rootfs"
  log "debootstrap --variant=minbase $SUITE (about a minute)"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    {
      tail -n 30 "$work/debootstrap.log" >&2
      die "debootstrap failed (log above)"
    }
  local security=${MIRROR%/debian}/debian-security
  cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $security $SUITE-security main
EOF
  # Keep images small: no package lists, no downloaded .debs, no docs in later installs.
  cat >"$root/etc/apt/apt.conf.d/90thv" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
  cat >"$root/etc/dpkg/dpkg.cfg.d/90thv-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
EOF
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/var/log/*.log
  # The host's resolver is not the container's: the engine writes its own.
  : >"$root/etc/resolv.conf"
  tar -C "$root" -c . | podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' - "$DEBIAN_IMAGE" >/dev/null
  done_msg "$DEBIAN_IMAGE" "$t0"
}

# podman build of $1 from the Dockerfile on stdin, in the context dir $2.
podman_build() {
  local tag=$1 ctx=$2 t0
  t0=$(date +%s)
  cat >"$ctx/Dockerfile"
  log "building $tag"
  if ! podman build --pull=never --no-cache -t "$tag" -f "$ctx/Dockerfile" "$ctx" >"$work/build.log" 2>&1; then
    tail -n 30 "$work/build.log" >&2
    die "building $tag failed (log above)"
  fi
  done_msg "$tag" "$t0"
}

apt_install() {
  echo "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $* >/dev/null" \
    "&& apt-get clean && rm -rf /var/lib/apt/lists/*"
}

build_python() {
  local ctx="$work/python"
  mkdir -p "$ctx"
  podman_build "$PYTHON_IMAGE" "$ctx" <<EOF
FROM $DEBIAN_IMAGE
$(apt_install python3 python3-venv python3-pip)
CMD ["python3"]
EOF
}

build_go() {
  local ctx="$work/go"
  mkdir -p "$ctx"
  if [ "$THV_BASE_GO_FROM" = debian ]; then
    podman_build "$GO_IMAGE" "$ctx" <<EOF
FROM $DEBIAN_IMAGE
$(apt_install golang-go git)
CMD ["go", "version"]
EOF
    return
  fi
  local goroot
  goroot=$(go env GOROOT)
  log "go: $goroot ($(host_go_version))"
  # The toolchain, without what building does not read.
  mkdir -p "$ctx/go"
  tar -C "$goroot" --exclude=./test --exclude=./doc --exclude=./api -c . | tar -C "$ctx/go" -x
  podman_build "$GO_IMAGE" "$ctx" <<EOF
FROM $DEBIAN_IMAGE
$(apt_install git)
COPY go /usr/local/go
ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN go version
CMD ["go", "version"]
EOF
}

# Whether the Go image holds another Go than the host's (then it is built again).
go_image_stale() {
  [ "$THV_BASE_GO_FROM" = host ] || return 1
  podman image exists "$GO_IMAGE" || return 1
  local inside
  inside=$(podman run --rm --network none "$GO_IMAGE" go env GOVERSION 2>/dev/null) || return 0
  [ "$inside" != "$(host_go_version)" ]
}

build_node() {
  local ctx="$work/node"
  mkdir -p "$ctx"
  if [ "$THV_BASE_NODE_FROM" = debian ]; then
    podman_build "$NODE_IMAGE" "$ctx" <<EOF
FROM $DEBIAN_IMAGE
$(apt_install nodejs npm)
CMD ["node", "--version"]
EOF
    return
  fi
  local node npm_dir
  node=$(readlink -f "$(command -v node)")
  npm_dir=$(dirname "$node")/../lib/node_modules/npm
  [ -f "$npm_dir/bin/npm-cli.js" ] || npm_dir=/usr/lib/node_modules/npm
  [ -f "$npm_dir/bin/npm-cli.js" ] || die "npm not found next to $node (set THV_BASE_NODE_FROM=debian)"
  # The binary must need nothing the Debian base lacks: libc, libstdc++, libgcc (minbase has them all).
  local lib
  for lib in $(ldd "$node" | awk '/=>/ {print $1}'); do
    case "$lib" in
    libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | libstdc++.so.* | libgcc_s.so.*) ;;
    *) die "$node links $lib, which the Debian base lacks (set THV_BASE_NODE_FROM=debian)" ;;
    esac
  done
  log "node: $node ($("$node" --version)), npm $(node "$npm_dir/bin/npm-cli.js" --version 2>/dev/null)"
  cp "$node" "$ctx/node"
  cp -a "$npm_dir" "$ctx/npm"
  podman_build "$NODE_IMAGE" "$ctx" <<EOF
FROM $DEBIAN_IMAGE
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
CMD ["node", "--version"]
EOF
}

if wanted "$DEBIAN_IMAGE"; then build_debian; fi
for which in python node go; do
  case "$which" in
  python) tag=$PYTHON_IMAGE ;;
  node) tag=$NODE_IMAGE ;;
  go) tag=$GO_IMAGE ;;
  esac
  if [ "$which" = go ] && go_image_stale; then
    log "$GO_IMAGE holds another Go than the host's $(host_go_version): building it again"
    podman rmi -f "$GO_IMAGE" >/dev/null
  fi
  if wanted "$tag"; then
    podman image exists "$DEBIAN_IMAGE" || die "$DEBIAN_IMAGE is missing"
    "build_$which"
  fi
done

log "done in $(($(date +%s) - started)) s; built: ${built[*]:-none}; already present: ${skipped[*]:-none}"

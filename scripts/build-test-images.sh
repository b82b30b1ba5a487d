#!/usr/bin/env bash
# Builds the local images the runner's tests use (no image can be pulled here). Idempotent. Needs podman and
# busybox-static (scripts/setup-podman.sh installs both), cargo, ldd and strip.
#
#   localhost/thv-test-busybox:latest     /bin/busybox (Debian's static build) plus a symlink per applet in
#                                         /bin, /etc/passwd+group (root, nobody), /tmp; CMD ["/bin/sh"].
#                                         Skipped when present.
#   localhost/thv-test-mcp-server:latest  tests/mcp-test-server (`cargo build -p thv-test-mcp-server`, a debug
#                                         build: the test suite builds the same profile), stripped, at
#                                         /usr/local/bin/thv-test-mcp-server with the shared libraries ldd names
#                                         and the dynamic loader; ENTRYPOINT that binary, USER 65534 (nobody),
#                                         EXPOSE 8080. Env: MCP_TRANSPORT=stdio (default) | streamable-http, then
#                                         MCP_PORT (default 8080, path /mcp). Rebuilt when the label
#                                         thv.test.rootfs-sha256 (a hash of the binary and libraries) differs.
set -euo pipefail
cd "$(dirname "$0")/.."

BUSYBOX_IMAGE=localhost/thv-test-busybox:latest
BUSYBOX=/bin/busybox
MCP_IMAGE=localhost/thv-test-mcp-server:latest
MCP_BIN=/usr/local/bin/thv-test-mcp-server
HASH_LABEL=thv.test.rootfs-sha256

log() { echo "build-test-images: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# /etc/passwd and /etc/group with root and nobody, /tmp, and the usual mount points.
base_rootfs() {
  local root=$1
  mkdir -p "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

build_busybox() {
  if podman image exists "$BUSYBOX_IMAGE"; then
    log "$BUSYBOX_IMAGE already present"
    return
  fi
  local applets
  if ! applets=$("$BUSYBOX" --list 2>/dev/null) || [ -z "$applets" ]; then
    log "$BUSYBOX missing or not a busybox (apt-get install busybox-static)"
    return 1
  fi
  if ldd "$BUSYBOX" >/dev/null 2>&1; then
    log "$BUSYBOX is dynamically linked; the image needs the static one (apt-get install busybox-static)"
    return 1
  fi
  local root="$work/busybox"
  base_rootfs "$root"
  mkdir -p "$root/bin" "$root/var/www" "$root/usr/bin" "$root/usr/sbin" "$root/sbin"
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $applets; do
    [ "$applet" = busybox ] && continue
    ln -sf busybox "$root/bin/$applet"
  done
  tar -C "$root" -cf "$work/busybox.tar" .
  podman import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' \
    "$work/busybox.tar" "$BUSYBOX_IMAGE" >/dev/null
  log "built $BUSYBOX_IMAGE"
}

# Builds the server and prints the path of its executable (cargo's own report, so CARGO_TARGET_DIR and any
# configured target directory are honoured).
build_mcp_binary() {
  log "cargo build --locked -p thv-test-mcp-server"
  cargo build --locked -p thv-test-mcp-server --message-format=json-render-diagnostics \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1
}

# The absolute paths of the shared libraries and the loader that ldd resolves for $1 (none for a static binary).
shared_libraries() {
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u
}

build_mcp_server() {
  local bin root libs lib hash current old_id
  bin=$(build_mcp_binary)
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    log "cargo reported no thv-test-mcp-server executable"
    return 1
  fi
  root="$work/mcp-server"
  base_rootfs "$root"
  mkdir -p "$root$(dirname "$MCP_BIN")"
  strip --strip-debug -o "$root$MCP_BIN" "$bin"
  libs=$(shared_libraries "$bin")
  for lib in $libs; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  hash=$(cd "$root" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  current=$(podman image inspect --format "{{ index .Labels \"$HASH_LABEL\" }}" "$MCP_IMAGE" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    log "$MCP_IMAGE up to date ($bin, $HASH_LABEL=${hash:0:12})"
    return
  fi
  old_id=$(podman image inspect --format '{{ .Id }}' "$MCP_IMAGE" 2>/dev/null || true)
  tar -C "$root" -cf "$work/mcp-server.tar" .
  podman import --quiet \
    --change "ENTRYPOINT [\"$MCP_BIN\"]" \
    --change 'USER 65534:65534' \
    --change 'EXPOSE 8080' \
    --change "LABEL $HASH_LABEL=$hash" \
    "$work/mcp-server.tar" "$MCP_IMAGE" >/dev/null
  # The previous build, now untagged (kept when a container still uses it).
  [ -n "$old_id" ] && podman image rm "$old_id" >/dev/null 2>&1 || true
  log "built $MCP_IMAGE from $bin with $(echo "$libs" | wc -w) libraries ($HASH_LABEL=${hash:0:12})"
}

build_busybox
build_mcp_server

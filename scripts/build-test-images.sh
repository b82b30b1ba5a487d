#!/usr/bin/env bash
# Builds the local images the runner's tests use (no image can be pulled here). Idempotent: an image that is
# already present is skipped. Needs podman and busybox-static (scripts/setup-podman.sh installs both).
#
#   localhost/thv-test-busybox:latest   /bin/busybox (Debian's static build) plus a symlink per applet in
#                                       /bin, /etc/passwd+group (root, nobody), /tmp; CMD ["/bin/sh"]
set -euo pipefail

IMAGE=localhost/thv-test-busybox:latest
BUSYBOX=/bin/busybox

log() { echo "build-test-images: $*" >&2; }

if podman image exists "$IMAGE"; then
  log "$IMAGE already present"
  exit 0
fi
if ! applets=$("$BUSYBOX" --list 2>/dev/null) || [ -z "$applets" ]; then
  log "$BUSYBOX missing or not a busybox (apt-get install busybox-static)"
  exit 1
fi
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  log "$BUSYBOX is dynamically linked; the image needs the static one (apt-get install busybox-static)"
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root" \
  "$root/var/www" "$root/usr/bin" "$root/usr/sbin" "$root/sbin"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $applets; do
  [ "$applet" = busybox ] && continue
  ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar -C "$root" -cf "$work/rootfs.tar" .
podman import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' \
  "$work/rootfs.tar" "$IMAGE" >/dev/null
log "built $IMAGE"

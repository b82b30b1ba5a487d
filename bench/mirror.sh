#!/usr/bin/env bash
# Mirror bundle benchmark: `thv-registry mirror create` and `mirror push` beside skopeo doing the same copies, one
# run each on the same machine. Writes bench/results/mirror.md (and appends bench/mirror-notes.md when it exists).
#
# Usage: bench/mirror.sh
#
# Setup (not timed): a source docker-registry (Debian's `docker-registry`, plain HTTP on a free 127.0.0.1 port,
# storage in the scratch dir; the tests' registry of scripts/start-oci-registry.sh is left alone) holding
# BENCH_IMAGES synthetic images built with podman: all share a base of BENCH_BASE_LAYERS layers of random data
# (BENCH_BASE_MB in all) on localhost/thv-test-busybox:latest, and each adds one layer of its own (BENCH_LAYER_MB
# of random data). Their server.json entries (one registry file, images
# pinned by digest) are what `mirror create` reads. Then, one run each:
#   (1) create: `thv-registry mirror create` (one signed OCI layout) | `skopeo copy` of each image into one OCI
#       layout (shared blobs stored once) | `skopeo sync --src yaml --dest dir` (one dir per image)
#   (2) push, each into its own fresh site registry (another docker-registry instance, so that no tool finds
#       blobs another one left there): `mirror push` of the bundle | `skopeo copy oci:LAYOUT:NAME docker://...`
#       per image from skopeo's layout | `skopeo sync --src dir --dest docker` of the sync dirs
#   (3) delta: image 01 rebuilt (a new layer of its own, entry version 1.0.1), `mirror create --since FULL`; the
#       delta's blobs against the full bundle's; `mirror verify --base` and `mirror push --base` of the delta
#   (4) one large layer: an image FROM scratch with one BENCH_BIG_MB layer, `mirror create` and `mirror push`
#       (and `skopeo copy` for scale): peak RSS must not follow the layer size
# Wall time and peak RSS come from GNU time (/usr/bin/time: elapsed time and maximum resident set size, i.e.
# getrusage's ru_maxrss; for a loop of skopeo processes, the largest of them). MB/s: the bytes of the full
# bundle's blobs (the distinct image bytes, the same figure for every tool of a table) / wall time; MB = 10^6 bytes.
#
# Environment (all optional):
#   BENCH_IMAGES=20        synthetic images                BENCH_LAYER_MB=40    each image's own layer, MB
#   BENCH_BASE_MB=240      the shared base, MB in all      BENCH_BASE_LAYERS=3  layers the base is split into
#   BENCH_BIG_MB=512       the single-layer image of (4)   (defaults: about 1 GB of distinct image data in (1))
#   THV_REGISTRY_BIN=path  use this thv-registry binary instead of building one (release build otherwise)
#   CARGO_TARGET_DIR       where the release build goes (default: <repo>/target-bench)
#   BENCH_OUT=file         results file (default: bench/results/mirror.md)
#   TMPDIR                 where the scratch dir goes (about 14 GB at the defaults: skopeo sync's dirs alone
#                          hold every image whole, ~5.6 GB)
#   BENCH_KEEP=1           keep the scratch dir (bundles, layouts, logs, registry storage) for inspection
#
# Needs: podman (root) with localhost/thv-test-busybox:latest, skopeo, docker-registry, GNU time, python3, curl.
# The registries it starts are stopped, the podman images it built removed and the scratch dir deleted on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
n_images=${BENCH_IMAGES:-20}
base_mb=${BENCH_BASE_MB:-240}
base_layers=${BENCH_BASE_LAYERS:-3}
layer_mb=${BENCH_LAYER_MB:-40}
big_mb=${BENCH_BIG_MB:-512}
out=${BENCH_OUT:-$here/results/mirror.md}
base_image=localhost/thv-test-busybox:latest
MB=1000000

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in podman skopeo docker-registry python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
[ -x /usr/bin/time ] && /usr/bin/time -f '%M' true 2>/dev/null >/dev/null ||
  die "GNU time (/usr/bin/time) is missing: apt-get install time"
podman image exists "$base_image" || die "$base_image is missing (the tests' busybox base image)"
[ "$n_images" -ge 1 ] && [ "$base_layers" -ge 1 ] || die "BENCH_IMAGES and BENCH_BASE_LAYERS must be >= 1"

if [ -n "${THV_REGISTRY_BIN:-}" ]; then
  thv=$THV_REGISTRY_BIN
  [ -x "$thv" ] || die "THV_REGISTRY_BIN=$thv is not an executable"
  thv_build="the given binary \`$thv\`"
  log "using $thv"
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target-bench}
  log "building thv-registry (release) into $CARGO_TARGET_DIR"
  (cd "$repo" && cargo build --release -q -p thv-registry)
  thv=$CARGO_TARGET_DIR/release/thv-registry
  thv_build="release build"
fi

tmp=$(mktemp -d -t thv-bench-mirror.XXXXXX)
tag=thv-bench-mirror-$$
reg_pids=()
podman_images=()
cleanup() {
  local rc=$?
  for img in "${podman_images[@]}"; do
    podman rmi -i "$img" >/dev/null 2>&1 || true
  done
  for pid in "${reg_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_registry NAME: a docker-registry on a free 127.0.0.1 port, storage under $tmp/reg-NAME; sets reg_addr and
# reg_dir.
start_registry() {
  local name=$1 port
  reg_dir=$tmp/reg-$name
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  reg_addr=127.0.0.1:$port
  mkdir -p "$reg_dir"
  cat >"$reg_dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $reg_dir/data
http:
  addr: $reg_addr
YAML
  docker-registry serve "$reg_dir/config.yml" >"$reg_dir/log" 2>&1 </dev/null &
  reg_pids+=($!)
  for _ in $(seq 1 50); do
    curl -sf --max-time 2 -o /dev/null "http://$reg_addr/v2/" && { log "registry $name on http://$reg_addr"; return; }
    sleep 0.2
  done
  tail -n 20 "$reg_dir/log" >&2 || true
  die "docker-registry $name did not answer on $reg_addr"
}

# bytes_of PATH...: the total size of the files under PATH (apparent sizes).
bytes_of() { find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'; }

# measure LABEL CMD...: runs CMD under GNU time (stdout to $tmp/LABEL.out, stderr to $tmp/LABEL.err); sets wall
# (seconds) and rss_kb. A failing CMD stops the benchmark, its error shown.
measure() {
  local label=$1
  shift
  log "$label: $*"
  if ! /usr/bin/time -f '%e %M' -o "$tmp/$label.time" "$@" >"$tmp/$label.out" 2>"$tmp/$label.err"; then
    tail -n 30 "$tmp/$label.err" >&2
    die "$label failed (exit status $(head -n 1 "$tmp/$label.time"))"
  fi
  read -r wall rss_kb <"$tmp/$label.time"
  log "$label: ${wall} s, peak RSS $((rss_kb * 1024 / MB)) MB"
}

# record SECTION TOOL WHAT PAYLOAD_BYTES EXTRA: one row of the report, from the last measure.
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$wall" "$rss_kb" "$4" "$5" >>"$tmp/results.tsv"
}

# build_image NAME FROM FILE: an image FROM (base image, or scratch) plus FILE copied in as one layer, built by
# podman; the file is deleted afterwards. Podman keeps it until cleanup (podman_images).
build_image() {
  local name=$1 from=$2 file=$3 ctx
  ctx=$(dirname "$file")
  printf 'FROM %s\nCOPY %s /bench/%s\n' "$from" "$(basename "$file")" "$(basename "$file")" >"$ctx/Containerfile"
  podman_images+=("$name")
  podman build -q --pull=never --layers=false -t "$name" -f "$ctx/Containerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
}

# random_file PATH MB
random_file() {
  mkdir -p "$(dirname "$1")"
  head -c "$(($2 * MB / 1))" /dev/urandom >"$1"
}

# push_image NAME: pushes the podman image NAME (REGISTRY/REPO:TAG) and prints its manifest digest.
push_image() {
  podman push -q --tls-verify=false --digestfile "$tmp/digest" "$1" >/dev/null
  cat "$tmp/digest"
}

# entries FILE (REPO VERSION DIGEST lines on stdin): a registry file, a JSON array of server.json documents.
entries() {
  python3 -c '
import json, sys
src = sys.argv[2]
docs = []
for line in sys.stdin.read().split("\n"):
    if not line.strip():
        continue
    repo, version, digest = line.split()
    docs.append({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "io.github.bench/" + repo.rsplit("/", 1)[-1],
        "description": "mirror benchmark image",
        "version": version,
        "packages": [{"registryType": "oci", "identifier": f"{src}/{repo}@{digest}",
                      "transport": {"type": "stdio"}}],
    })
json.dump(docs, open(sys.argv[1], "w"), indent=1)
' "$1" "$src"
}

start_registry source
src=$reg_addr
src_dir=$reg_dir

# The images.
each_mb=$((base_mb / base_layers))
log "building the shared base: $base_layers layers of $each_mb MB on $base_image"
from=$base_image
for i in $(seq 1 "$base_layers"); do
  random_file "$tmp/ctx/base$i.bin" "$each_mb"
  build_image "localhost/$tag-base$i" "$from" "$tmp/ctx/base$i.bin"
  from=localhost/$tag-base$i
done
base=$from
log "building and pushing $n_images images (one $layer_mb MB layer of their own each) to $src"
names=()
: >"$tmp/images.txt"
for i in $(seq 1 "$n_images"); do
  name=$(printf 'img%02d' "$i")
  names+=("$name")
  random_file "$tmp/ctx/$name.bin" "$layer_mb"
  build_image "$src/bench/$name:1.0.0" "$base" "$tmp/ctx/$name.bin"
  digest=$(push_image "$src/bench/$name:1.0.0")
  podman rmi -i "$src/bench/$name:1.0.0" >/dev/null
  echo "bench/$name 1.0.0 $digest" >>"$tmp/images.txt"
done
entries "$tmp/registry.json" <"$tmp/images.txt"
source_bytes=$(bytes_of "$src_dir/data/docker/registry/v2/blobs")
log "source registry holds $((source_bytes / MB)) MB of blobs"

cd "$tmp"
COSIGN_PASSWORD= "$thv" keygen --output-key-prefix "$tmp/mirror" 2>"$tmp/keygen.err" ||
  { cat "$tmp/keygen.err" >&2; die "thv-registry keygen failed"; }
export COSIGN_PASSWORD=

# (1) create
measure create-thv "$thv" mirror create --from "$tmp/registry.json" --key "$tmp/mirror.key" \
  --insecure-registry "$src" -o "$tmp/full"
full_bytes=$(bytes_of "$tmp/full/blobs")
record create "thv-registry mirror create" "one OCI layout, contents signed" "$full_bytes" "$(bytes_of "$tmp/full")"
grep -h '^mirrored' "$tmp/create-thv.err" >"$tmp/summary-create" || die "no summary line from mirror create"
grep -q "^mirrored $n_images entries and $n_images images " "$tmp/summary-create" ||
  log "WARNING: unexpected summary: $(cat "$tmp/summary-create")"

: >"$tmp/skopeo-copy.sh"
while read -r r _ d; do
  echo "skopeo copy -q --src-tls-verify=false docker://$src/$r@$d oci:$tmp/skopeo-oci:$r" >>"$tmp/skopeo-copy.sh"
done <"$tmp/images.txt"
measure create-skopeo-copy bash -e "$tmp/skopeo-copy.sh"
record create "skopeo copy ×$n_images" "docker:// → oci:LAYOUT:NAME, one layout" "$full_bytes" \
  "$(bytes_of "$tmp/skopeo-oci")"

{
  echo "$src:"
  echo "  tls-verify: false"
  echo "  images:"
  for n in "${names[@]}"; do echo "    bench/$n: [\"1.0.0\"]"; done
} >"$tmp/sync.yaml"
measure create-skopeo-sync skopeo sync --src yaml --dest dir "$tmp/sync.yaml" "$tmp/skopeo-sync"
record create "skopeo sync" "--src yaml --dest dir: a dir per image" "$full_bytes" "$(bytes_of "$tmp/skopeo-sync")"

# (2) push, each tool into a fresh registry
start_registry site-thv
site_thv=$reg_addr
site_thv_dir=$reg_dir
measure push-thv "$thv" mirror push "$tmp/full" --key "$tmp/mirror.pub" --oci-registry "$site_thv/bench" \
  --insecure-registry "$site_thv"
record push "thv-registry mirror push" "verifies the bundle, then pushes" "$full_bytes" \
  "$(bytes_of "$site_thv_dir/data/docker/registry/v2/blobs")"
grep -h '^pushed' "$tmp/push-thv.err" >"$tmp/summary-push" || die "no summary line from mirror push"
there=0
while read -r r _ d; do
  skopeo inspect --raw --tls-verify=false "docker://$site_thv/bench/${src/:/-}/$r@$d" >/dev/null 2>&1 &&
    there=$((there + 1))
done <"$tmp/images.txt"
[ "$there" = "$n_images" ] ||
  log "WARNING: only $there of $n_images images found at $site_thv by digest after mirror push"
echo "$there" >"$tmp/push-thv.found"

start_registry site-skopeo-copy
site_copy_dir=$reg_dir
: >"$tmp/skopeo-push.sh"
while read -r r _ _; do
  echo "skopeo copy -q --dest-tls-verify=false oci:$tmp/skopeo-oci:$r docker://$reg_addr/bench/$r:1.0.0" \
    >>"$tmp/skopeo-push.sh"
done <"$tmp/images.txt"
measure push-skopeo-copy bash -e "$tmp/skopeo-push.sh"
record push "skopeo copy ×$n_images" "oci:LAYOUT:NAME (its own layout) → docker://" "$full_bytes" \
  "$(bytes_of "$site_copy_dir/data/docker/registry/v2/blobs")"

start_registry site-skopeo-sync
site_sync_dir=$reg_dir
measure push-skopeo-sync skopeo sync --src dir --dest docker --dest-tls-verify=false "$tmp/skopeo-sync" \
  "$reg_addr/bench"
record push "skopeo sync" "--src dir (its dirs) --dest docker" "$full_bytes" \
  "$(bytes_of "$site_sync_dir/data/docker/registry/v2/blobs")"

# (3) delta: image 01 changed (a new layer of its own), the other entries as they were
log "delta: rebuilding ${names[0]} with a new $layer_mb MB layer"
random_file "$tmp/ctx/${names[0]}-2.bin" "$layer_mb"
build_image "$src/bench/${names[0]}:1.0.1" "$base" "$tmp/ctx/${names[0]}-2.bin"
digest=$(push_image "$src/bench/${names[0]}:1.0.1")
podman rmi -i "$src/bench/${names[0]}:1.0.1" >/dev/null
{ echo "bench/${names[0]} 1.0.1 $digest"; tail -n +2 "$tmp/images.txt"; } | entries "$tmp/registry2.json"
measure create-delta "$thv" mirror create --from "$tmp/registry2.json" --key "$tmp/mirror.key" \
  --insecure-registry "$src" --since "$tmp/full" -o "$tmp/delta"
delta_bytes=$(bytes_of "$tmp/delta/blobs")
record delta "thv-registry mirror create --since FULL" "the delta (verifies FULL first)" "$delta_bytes" \
  "$(bytes_of "$tmp/delta")"
grep -h '^mirrored\|^a delta' "$tmp/create-delta.err" >"$tmp/summary-delta" || true
measure verify-delta "$thv" mirror verify "$tmp/delta" --base "$tmp/full" --key "$tmp/mirror.pub"
record delta "thv-registry mirror verify DELTA --base FULL" "every blob checked" "$delta_bytes" ""
measure push-delta "$thv" mirror push "$tmp/delta" --base "$tmp/full" --key "$tmp/mirror.pub" \
  --oci-registry "$site_thv/bench" --insecure-registry "$site_thv"
record delta "thv-registry mirror push DELTA --base FULL" "to the site holding the full bundle" "$delta_bytes" ""
grep -h '^pushed' "$tmp/push-delta.err" >>"$tmp/summary-delta" || true

# (4) one large layer
log "one image with one $big_mb MB layer"
random_file "$tmp/ctx/big.bin" "$big_mb"
build_image "$src/bench/big:1.0.0" scratch "$tmp/ctx/big.bin"
digest=$(push_image "$src/bench/big:1.0.0")
podman rmi -i "$src/bench/big:1.0.0" >/dev/null
echo "bench/big 1.0.0 $digest" | entries "$tmp/registry-big.json"
measure big-create "$thv" mirror create --from "$tmp/registry-big.json" --key "$tmp/mirror.key" \
  --insecure-registry "$src" -o "$tmp/big"
big_bytes=$(bytes_of "$tmp/big/blobs")
record big "thv-registry mirror create" "" "$big_bytes" ""
grep -h '^mirrored' "$tmp/big-create.err" >"$tmp/summary-big" || true
measure big-push "$thv" mirror push "$tmp/big" --key "$tmp/mirror.pub" --oci-registry "$site_thv/big" \
  --insecure-registry "$site_thv"
record big "thv-registry mirror push" "" "$big_bytes" ""
grep -h '^pushed' "$tmp/big-push.err" >>"$tmp/summary-big" || true
measure big-skopeo skopeo copy -q --src-tls-verify=false "docker://$src/bench/big@$digest" "oci:$tmp/big-skopeo:big"
record big "skopeo copy (for scale)" "" "$big_bytes" ""

# The report.
commit=$(cd "$repo" && git rev-parse --short HEAD)
(cd "$repo" && git diff --quiet HEAD -- . ':!bench') || commit="$commit + uncommitted changes"
machine="$(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)), \
$(free -g | awk '/^Mem:/ { print $2 }') GB RAM, Linux $(uname -r)"
versions="$(skopeo --version), $(podman --version), $(docker-registry --version 2>/dev/null | awk '{ print $2, $3 }')"
mkdir -p "$(dirname "$out")"
python3 - "$tmp" "$out" "$here/mirror-notes.md" <<PY
import datetime, os, sys
tmp, out, notes = sys.argv[1:]
MB = 1e6
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(tmp, "results.tsv")) if l.strip()]
rows = [dict(section=r[0], tool=r[1], what=r[2], wall=float(r[3]), rss=int(r[4]) * 1024 / MB,
             payload=int(r[5]), extra=int(r[6]) if r[6] else None) for r in rows]
def read(name):
    p = os.path.join(tmp, name)
    return open(p).read().strip() if os.path.exists(p) else ""
def rate(r):
    return r["payload"] / MB / r["wall"] if r["wall"] > 0 else float("inf")
sec = lambda name: [r for r in rows if r["section"] == name]
mb = lambda b: f"{b / MB:,.1f}"
n, full, delta = $n_images, $full_bytes, $delta_bytes
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
L = []
p = L.append
p("# Mirror bundle: \`thv-registry mirror create\` / \`push\` beside skopeo")
p("")
p(f"Generated by \`bench/mirror.sh\` on {now} (commit \`$commit\`; thv-registry: $thv_build). "
  f"{n} synthetic images ({mb(full)} MB of distinct blobs, sharing a $base_mb MB base of $base_layers layers, "
  f"each with one $layer_mb MB layer of its own; random data, so incompressible) in a local docker-registry; "
  "each tool run once, one after the other, same machine: 2 shared cores; local docker-registry over plain HTTP "
  "on 127.0.0.1 (the registries run on the same cores as the tools).")
p("")
p(f"Parameters: \`BENCH_IMAGES={n} BENCH_BASE_MB=$base_mb BENCH_BASE_LAYERS=$base_layers "
  f"BENCH_LAYER_MB=$layer_mb BENCH_BIG_MB=$big_mb\`. Machine: $machine. Tools: $versions.")
p("")
# Goals.
create, push = sec("create"), sec("push")
thv_create = create[0]; thv_push = push[0]
thv_rows = [r for r in rows if r["tool"].startswith("thv-registry")]
peak = max(thv_rows, key=lambda r: r["rss"])
met = lambda ok: "**met**" if ok else "**not met**"
def vs(thv, others):
    return "; ".join(f"{o['tool']} {rate(o):,.1f} MB/s" for o in others)
p("## Goals")
p("")
p("| goal | measured | |")
p("|---|---|---|")
p(f"| create: ≥ skopeo's throughput | mirror create {rate(thv_create):,.1f} MB/s; {vs(thv_create, create[1:])} "
  f"| {met(all(rate(thv_create) >= rate(o) for o in create[1:]))} |")
p(f"| push: ≥ skopeo's throughput | mirror push {rate(thv_push):,.1f} MB/s; {vs(thv_push, push[1:])} "
  f"| {met(all(rate(thv_push) >= rate(o) for o in push[1:]))} |")
p(f"| peak RSS < 100 MB whatever the layer size | largest: {peak['rss']:,.1f} MB "
  f"({peak['tool']}, {peak['section']}); with a $big_mb MB layer: "
  + ", ".join(f"{r['tool'].split(' ', 1)[1]} {r['rss']:,.1f} MB" for r in sec("big") if r["tool"].startswith("thv"))
  + f" | {met(peak['rss'] < 100)} |")
p(f"| delta of a 1-image change < 5 % of the full bundle | {mb(delta)} MB / {mb(full)} MB = "
  f"{100 * delta / full:.2f} % | {met(delta < 0.05 * full)} |")
p("")
def table(rows, payload_note, extra_name):
    p(f"| tool | what | wall s | MB/s | peak RSS MB | {extra_name} MB |")
    p("|---|---|--:|--:|--:|--:|")
    for r in rows:
        extra = mb(r["extra"]) if r["extra"] is not None else "—"
        p(f"| {r['tool']} | {r['what']} | {r['wall']:.2f} | {rate(r):,.1f} | {r['rss']:,.1f} | {extra} |")
    p("")
    p(payload_note)
    p("")
p("## 1. Bundle creation: source registry → local disk")
p("")
table(create, f"MB/s: the full bundle's blobs ({mb(full)} MB) / wall time, for every row. Written to disk: "
      "skopeo sync's dir transport stores each image whole (no sharing between images).", "written to disk")
p(f"\`mirror create\` said: \`{read('summary-create')}\`")
p("")
p("## 2. Push: local copy → the site's registry")
p("")
table(push, f"Each row pushes into its own empty docker-registry (so no tool finds blobs another left). MB/s: the "
      f"full bundle's blobs ({mb(full)} MB) / wall time. Stored at site: the registry's blob store afterwards. "
      f"\`mirror push\` verifies the whole bundle (every blob's SHA-256, the signed contents) before it pushes; "
      f"{read('push-thv.found')} of {n} images were found at the site by digest afterwards.", "stored at site")
p(f"\`mirror push\` said: \`{read('summary-push')}\`")
p("")
p("## 3. Delta: one image changed")
p("")
p(f"Image 01 rebuilt with a new $layer_mb MB layer of its own (entry version 1.0.1), the other {n - 1} entries "
  f"unchanged; \`mirror create --since FULL\` holds only the blobs FULL lacks: **{mb(delta)} MB, "
  f"{100 * delta / full:.2f} % of the full bundle's {mb(full)} MB**.")
p("")
p("| step | what | wall s | peak RSS MB |")
p("|---|---|--:|--:|")
for r in sec("delta"):
    p(f"| {r['tool']} | {r['what']} | {r['wall']:.2f} | {r['rss']:,.1f} |")
p("")
for line in read("summary-delta").splitlines():
    p(f"- \`{line}\`")
p("")
p(f"## 4. One $big_mb MB layer: memory does not follow the layer size")
p("")
p("| tool | wall s | MB/s | peak RSS MB |")
p("|---|--:|--:|--:|")
for r in sec("big"):
    p(f"| {r['tool']} | {r['wall']:.2f} | {rate(r):,.1f} | {r['rss']:,.1f} |")
p("")
for line in read("summary-big").splitlines():
    p(f"- \`{line}\`")
p("")
p("## Method")
p("")
p("- Wall time and peak RSS: GNU time (\`/usr/bin/time -f '%e %M'\`): elapsed time, and the maximum resident "
  "set size (getrusage's ru_maxrss). For a loop of skopeo processes (a \`bash\` script of one \`skopeo copy\` per "
  "image, timed as a whole), the peak RSS is that of the largest process, the wall time the whole loop's.")
p("- MB = 10^6 bytes. MB/s is the same payload (the distinct image blobs) over each tool's wall time, so the "
  "rows of a table compare directly; what each tool wrote is in the last column.")
p("- Source: one docker-registry (Debian's, the CNCF distribution registry) started by the script on a free "
  "loopback port with its storage in the scratch dir, filled by \`podman push\` (gzip layers) before any timing; "
  "each push target is a fresh instance of the same. Page cache warm for every tool (the images were just pushed).")
p("- One run of each, in the order of the tables; nothing else was meant to run, but the machine is shared.")
p("")
if os.path.exists(notes):
    p(open(notes).read().rstrip())
    p("")
open(out, "w").write("\n".join(L))
PY
log "wrote $out"

#!/usr/bin/env bash
# Sync benchmark: a downstream thv-registry-api that copies an upstream registry API (another thv-registry-api,
# seeded with the 100,000 synthetic versions of bench/gen_servers.py) through an API source, on SQLite and on
# PostgreSQL. Writes bench/results/sync.md.
#
# Usage: bench/sync.sh
#
# Per downstream backend (a new SQLite file, or a new PostgreSQL database on the throwaway cluster):
#   (0) the upstream alone: every page (limit=100) read by the driver, timed, with the upstream's CPU;
#   (1) full import: the downstream starts with one API source; its startup sync is timed (lastSync.durationMs and
#       process start -> status complete), with peak RSS of both servers and CPU per process and thread;
#   (2) POST /v1/sources/upstream/sync (incremental) with nothing changed upstream;
#   (3) 1 % changes upstream (500 published + 500 deprecated through the upstream's API), then an incremental sync,
#       and a check that every change arrived; an incremental sync with nothing changed; a second round of (3);
#   (4) a whole-registry comparison of upstream and downstream; a forced full re-sync (?full=true) of the populated
#       database; the comparison again.
# A backend's run disturbed by other processes (see BENCH_MAX_OTHER) is repeated.
# The measurements are made by bench/sync_bench.py (standard library only), which also renders the report; the
# hand-written analysis in bench/sync-notes.md is appended to it.
#
# Environment (all optional):
#   BENCH_SKIP_PG=1          skip the PostgreSQL downstream     BENCH_SKIP_SQLITE=1  skip the SQLite downstream
#   BENCH_NAMES=20000        synthetic names                    BENCH_VERSIONS=5     versions per name
#   BENCH_CHANGES=1000       upstream changes per round (half new versions, half deprecations)
#   BENCH_COMPARE=1          compare every version upstream and downstream (0: skip; ~10-20 s each)
#   BENCH_POLL_MS=20         how often the startup sync's status is polled
#   BENCH_UP_PORT=18090      upstream port              BENCH_DOWN_PORT=18091   downstream port (127.0.0.1 only)
#   BENCH_BIN=path           use this thv-registry-api binary instead of building one
#   CARGO_TARGET_DIR         where the release build goes (default: <repo>/target-bench)
#   BENCH_WORK=dir           scratch directory (default: bench/work, git-ignored)
#   BENCH_OUT=file           results file (default: bench/results/sync.md)
#   BENCH_IDLE_WAIT=300      before each phase, wait up to this many seconds until the machine is < 10 % busy
#   BENCH_MAX_OTHER=10       a backend's run during which other processes used more than this % of the machine in
#   BENCH_ATTEMPTS=3         any phase is repeated (this many attempts at most); the least disturbed one is kept
#   THV_TEST_PG_PORT=55432   the throwaway PostgreSQL cluster (scripts/start-postgres.sh), left running
#
# Needs: cargo, python3 (3.9+), and for the PostgreSQL half Debian's postgresql and postgresql-client packages
# (installed with apt-get when missing and running as root). Every server it starts is stopped on exit; the large
# scratch files (databases) are deleted at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${BENCH_WORK:-$here/work}
out=${BENCH_OUT:-$here/results/sync.md}
names=${BENCH_NAMES:-20000}
per_name=${BENCH_VERSIONS:-5}
changes=${BENCH_CHANGES:-1000}
up_port=${BENCH_UP_PORT:-18090}
down_port=${BENCH_DOWN_PORT:-18091}
skip_pg=${BENCH_SKIP_PG:-0}
skip_sqlite=${BENCH_SKIP_SQLITE:-0}
pg_port=${THV_TEST_PG_PORT:-55432}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$work" "$(dirname "$out")"

# --- tools --------------------------------------------------------------------------------------------------
need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
if [ "$skip_pg" != 1 ]; then
  ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || command -v initdb >/dev/null || need_apt+=(postgresql)
  command -v psql >/dev/null || need_apt+=(postgresql-client)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}: install them (apt-get install ${need_apt[*]})"
  log "installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- build --------------------------------------------------------------------------------------------------
# The commit, read from .git without running git (the working tree may hold uncommitted changes).
head_commit() {
  local g="$repo/.git" ref
  [ -f "$g" ] && g=$(sed -n 's/^gitdir: //p' "$g")
  [ -f "$g/HEAD" ] || { echo unknown; return; }
  ref=$(cat "$g/HEAD")
  case $ref in
    ref:*)
      ref=${ref#ref: }
      if [ -f "$g/$ref" ]; then cut -c1-7 "$g/$ref"
      else awk -v r="$ref" '$2 == r { print substr($1, 1, 7) }' "$g/packed-refs" 2>/dev/null || echo unknown; fi
      ;;
    *) echo "${ref:0:7}" ;;
  esac
}
commit=$(head_commit)
# What the binary is built from: the tree is edited concurrently, so fingerprint it (newest file, hash of all).
src_files=$(cd "$repo" && find registry-api/src registry-api/Cargo.toml core/src core/Cargo.toml migrations Cargo.lock -type f | sort)
src_hash=$(cd "$repo" && cat $src_files | sha256sum | cut -c1-12)
src_newest=$(cd "$repo" && stat -c '%Y %n' $src_files | sort -n | tail -1 |
  awk '{ cmd = "date -u -d @" $1 " +%Y-%m-%dT%H:%M:%SZ"; cmd | getline d; close(cmd); print $2 " at " d }')
if [ -n "${BENCH_BIN:-}" ]; then
  src_bin=$BENCH_BIN
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target-bench}
  log "building thv-registry-api (release) into $CARGO_TARGET_DIR"
  (cd "$repo" && cargo build --release -q --locked -p thv-registry-api)
  src_bin=$CARGO_TARGET_DIR/release/thv-registry-api
fi
[ -x "$src_bin" ] || die "no binary at $src_bin"
# A private copy: a concurrent build into the same target directory cannot swap the binary during the run.
mkdir -p "$work/bin"
bin="$work/bin/thv-registry-api-sync"
cp "$src_bin" "$bin.tmp" && mv "$bin.tmp" "$bin"
bin_built=$(date -u -r "$src_bin" +%Y-%m-%dT%H:%M:%SZ)

# --- data (the same file as bench/registry.sh) --------------------------------------------------------------
data="$work/servers-${names}x${per_name}.json"
facts="$work/facts-${names}x${per_name}.env"
if [ ! -s "$data" ] || [ ! -s "$facts" ] || [ "$here/gen_servers.py" -nt "$data" ]; then
  log "generating $names names x $per_name versions into $data"
  python3 "$here/gen_servers.py" "$data" --names "$names" --versions "$per_name" >"$facts.tmp"
  mv "$facts.tmp" "$facts"
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free "$up_port" || die "127.0.0.1:$up_port is in use (set BENCH_UP_PORT)"
port_free "$down_port" || die "127.0.0.1:$down_port is in use (set BENCH_DOWN_PORT)"

# --- PostgreSQL ---------------------------------------------------------------------------------------------
backends=()
[ "$skip_sqlite" = 1 ] || backends+=(sqlite)
pg_admin="" pg_info=""
if [ "$skip_pg" != 1 ]; then
  log "postgres: starting the throwaway cluster (scripts/start-postgres.sh; left running)"
  eval "$("$repo/scripts/start-postgres.sh")"
  pg_admin=$TEST_DATABASE_URL
  pg_info="PostgreSQL $(psql -X -At "$pg_admin" -c 'SHOW server_version' | awk '{print $1}'), $(psql -X -At "$pg_admin" -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync','shared_buffers','synchronous_commit','max_connections')")"
  backends+=(postgres)
fi
[ ${#backends[@]} -gt 0 ] || die "nothing to run (BENCH_SKIP_PG=1 and BENCH_SKIP_SQLITE=1)"

# --- run ----------------------------------------------------------------------------------------------------
raw="$work/sync-raw.json"
rm -f "$raw" "$work"/sync-*.log
driver_pid=""
stop_driver() {
  if [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null; then
    kill -TERM "$driver_pid" 2>/dev/null || true # it stops the servers it started
    for _ in $(seq 200); do kill -0 "$driver_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$driver_pid" 2>/dev/null || true
  fi
  driver_pid=""
}
cleanup_scratch() { rm -f "$work"/sync-up*.db* "$work"/sync-down.db* "$bin"; } # the databases and the binary copy
trap 'stop_driver; cleanup_scratch' EXIT
trap 'exit 130' INT TERM

machine="$(nproc) cores, $(free -m | awk '/^Mem:/ {printf "%.0f GiB", $2 / 1024}'), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo | tr -s ' '), Linux $(uname -r)"
log "running: backends ${backends[*]}, $changes changes per round"
python3 "$here/sync_bench.py" run --bin "$bin" --work "$work" --data "$data" --facts "$facts" --raw "$raw" \
  --backends "$(IFS=,; echo "${backends[*]}")" --pg-admin "${pg_admin:-postgres://postgres@127.0.0.1:$pg_port/postgres}" \
  --pg-dir "${THV_TEST_PG_DIR:-/tmp/thv-test-pg-$pg_port}" --up-port "$up_port" --down-port "$down_port" \
  --changes "$changes" --poll-ms "${BENCH_POLL_MS:-20}" --idle-wait "${BENCH_IDLE_WAIT:-300}" \
  --compare "${BENCH_COMPARE:-1}" --attempts "${BENCH_ATTEMPTS:-3}" --max-other "${BENCH_MAX_OTHER:-10}" \
  --meta "source=commit \`$commit\` (HEAD) plus uncommitted edits (the tree is edited concurrently): sources hashed \`$src_hash\` just before the build, newest file $src_newest; binary built $bin_built${BENCH_BIN:+ (BENCH_BIN given: not necessarily from these sources)}" \
  --meta "rustc=$(rustc --version 2>/dev/null | awk '{print $1, $2}')" \
  --meta "machine=$machine" --meta "pg=$pg_info" &
driver_pid=$!
status=0
wait "$driver_pid" || status=$?
driver_pid=""
[ "$status" = 0 ] || die "the driver failed (status $status; see $raw and $work/sync-*.log)"

# --- report -------------------------------------------------------------------------------------------------
python3 "$here/sync_bench.py" report "$raw" "$here/sync-notes.md" >"$out.tmp"
mv "$out.tmp" "$out"
log "wrote $out"

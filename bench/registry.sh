#!/usr/bin/env bash
# Registry benchmark: seed 100,000 synthetic versions (20,000 names) into thv-registry-api on SQLite, on
# PostgreSQL and on ConfigMaps (the test control plane of scripts/start-kube-apiserver.sh), then load list pages, search and detail reads with wrk at 64 connections, beside nginx serving the
# first page as a static file (the ceiling). Writes bench/results/registry.md.
#
# Usage: bench/registry.sh
#
# Per backend: (1) start on an empty database with --seed-from: import time, RSS; (2) restart on the populated
# database with the default configuration (read cache on) and load every query; (3) restart with the read cache
# off (--read-cache-bytes 0) and load every query again, so that the database path is measured too.
#
# Environment (all optional):
#   BENCH_SKIP_PG=1          skip the PostgreSQL half
#   BENCH_SKIP_CM=1          skip the ConfigMap third (it needs Go to build the control plane the first time)
#   BENCH_SKIP_NOCACHE=1     skip the pass with the read cache off
#   BENCH_DURATION=10s       wrk duration of each measured run (each is preceded by a BENCH_WARMUP run)
#   BENCH_WARMUP=2s          wrk warm-up duration (not reported)
#   BENCH_CONNECTIONS=64     wrk connections       BENCH_THREADS=2   wrk threads
#   BENCH_NAMES=20000        synthetic names       BENCH_VERSIONS=5  versions per name
#   BENCH_MAX_CONNECTIONS=N  the server's database pool size (default: the server's own default)
#   BENCH_PORT=18080         registry port          BENCH_NGINX_PORT=18081  nginx port (127.0.0.1 only)
#   BENCH_BIN=path           use this thv-registry-api binary instead of building one
#   CARGO_TARGET_DIR         where the release build goes (default: <repo>/target-bench)
#   BENCH_WORK=dir           scratch directory (default: bench/work, git-ignored)
#   BENCH_OUT=file           results file (default: bench/results/registry.md)
#   The machine may be shared: before each run the script waits (up to BENCH_IDLE_WAIT=300 s) until other
#   processes use < 10 % of the CPU, and a run during which they used more than BENCH_MAX_OTHER=5 % of it is
#   repeated (BENCH_ATTEMPTS=3 attempts at most; the least disturbed one is kept and its share reported).
#
# Needs: cargo, python3, curl, wrk and nginx (installed with apt-get when missing and running as root), and for
# the PostgreSQL half Debian's postgresql package (a throwaway cluster on 127.0.0.1:55432 is started with
# scripts/start-postgres.sh and left running). Every other process it starts is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${BENCH_WORK:-$here/work}
out=${BENCH_OUT:-$here/results/registry.md}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
names=${BENCH_NAMES:-20000}
per_name=${BENCH_VERSIONS:-5}
pool=${BENCH_MAX_CONNECTIONS:-}
port=${BENCH_PORT:-18080}
nginx_port=${BENCH_NGINX_PORT:-18081}
skip_pg=${BENCH_SKIP_PG:-0}
skip_cm=${BENCH_SKIP_CM:-0}
skip_nocache=${BENCH_SKIP_NOCACHE:-0}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$work" "$(dirname "$out")"
raw="$work/raw.txt"
: >"$raw"
rm -f "$work"/wrk-*.txt "$work"/server-*.log "$work"/plans-*.txt
record() { printf '%s\n' "$*" >>"$raw"; }

# --- tools --------------------------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
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
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# --- build --------------------------------------------------------------------------------------------------
commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
# the last commit that changed what the server is built from
code_commit=$(cd "$repo" && git log -1 --format=%h -- registry-api/src registry-api/Cargo.toml core/src core/Cargo.toml migrations 2>/dev/null || echo unknown)
dirty=$(cd "$repo" && git status --porcelain --untracked-files=no -- registry-api/src core/src migrations 2>/dev/null |
  awk '{print $2}' | paste -sd, -)
if [ -n "${BENCH_BIN:-}" ]; then
  src_bin=$BENCH_BIN
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target-bench}
  log "building thv-registry-api (release) into $CARGO_TARGET_DIR"
  (cd "$repo" && cargo build --release -q -p thv-registry-api)
  src_bin=$CARGO_TARGET_DIR/release/thv-registry-api
fi
[ -x "$src_bin" ] || die "no binary at $src_bin"
# A private copy: a concurrent build into the same target directory cannot swap the binary during the run.
mkdir -p "$work/bin"
bin="$work/bin/thv-registry-api"
cp "$src_bin" "$bin.tmp" && mv "$bin.tmp" "$bin"

# --- data ---------------------------------------------------------------------------------------------------
data="$work/servers-${names}x${per_name}.json"
facts="$work/facts-${names}x${per_name}.env"
if [ ! -s "$data" ] || [ ! -s "$facts" ] || [ "$here/gen_servers.py" -nt "$data" ]; then
  log "generating $names names x $per_name versions into $data"
  python3 "$here/gen_servers.py" "$data" --names "$names" --versions "$per_name" >"$facts.tmp"
  mv "$facts.tmp" "$facts"
fi
# shellcheck disable=SC1090
. "$facts"
log "data: $VERSIONS versions, $NAMES names, $(du -m "$data" | cut -f1) MB"

# --- processes ----------------------------------------------------------------------------------------------
server_pid=""
nginx_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
stop_nginx() {
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  nginx_pid=""
}
trap 'stop_server; stop_nginx' EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free "$port" || die "127.0.0.1:$port is in use (set BENCH_PORT)"
port_free "$nginx_port" || die "127.0.0.1:$nginx_port is in use (set BENCH_NGINX_PORT)"

now_us() { echo "${EPOCHREALTIME/./}"; } # bash 5 builtin
# nap SECONDS: sleep without starting a process (a read with a timeout on a FIFO nobody writes to).
nap_fifo="$work/.nap"
rm -f "$nap_fifo"
mkfifo "$nap_fifo"
exec 9<>"$nap_fifo"
nap() { read -rt "$1" -u 9 || true; }

proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# --- CPU accounting: how much of the (shared) machine other processes took during a run ----------------------
# cpu_snapshot FILE start|end: "pid ppid own_ticks children_ticks" of every process, and the machine's busy
# (user, nice, system, steal) and total ticks; /proc/stat is read last at the start and first at the end.
machine_line() { awk '/^cpu / { print "machine", $2 + $3 + $4 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
cpu_snapshot() {
  {
    [ "$2" = start ] || machine_line
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | # (processes may exit while being read)
      awk '{ n = split($0, a, ") "); split(a[n], f, " "); print $1, f[2], f[12] + f[13], f[14] + f[15] }'
    [ "$2" != start ] || machine_line
  } >"$1"
}
# other_cpu START END PID...: % of the machine's CPU used between the snapshots by processes other than these
# PIDs and their descendants (reaped children included: wrk is this script's) and kernel threads (network work).
other_cpu() {
  local start=$1 end=$2
  shift 2
  awk -v roots="$*" '
    $1 == "machine" { if (FNR == NR) { b0 = $2; t0 = $3 } else { b1 = $2; t1 = $3 }; next }
    FNR == NR { u0[$1] = $3; c0[$1] = $4; next }
    { ppid[$1] = $2; u1[$1] = $3; c1[$1] = $4 }
    END {
      n = split(roots, r, " "); for (i = 1; i <= n; i++) ours[r[i]] = 1
      ours[2] = 1
      do { changed = 0
        for (p in ppid) if (!(p in ours) && (ppid[p] in ours)) { ours[p] = 1; changed = 1 }
      } while (changed)
      for (p in ours) if (p in u1) mine += u1[p] - ((p in u0) ? u0[p] : 0) + c1[p] - ((p in c0) ? c0[p] : 0)
      x = (b1 - b0 - mine) * 100 / (t1 - t0)
      printf "%.1f\n", (x < 0 ? 0 : x)
    }' "$start" "$end"
}
# machine_busy: % of the machine's CPU used over the next second (by anything: call it while ours idle).
machine_busy() {
  local a b c d e f g h t1 i1 t2 i2
  read -r _ a b c d e f g h _ </proc/stat
  t1=$((a + b + c + d + e + f + g + h)) i1=$((d + e))
  nap 1
  read -r _ a b c d e f g h _ </proc/stat
  t2=$((a + b + c + d + e + f + g + h)) i2=$((d + e))
  echo $(( (100 * ((t2 - t1) - (i2 - i1))) / (t2 - t1 > 0 ? t2 - t1 : 1) ))
}
# wait_idle: wait (up to BENCH_IDLE_WAIT s) until the machine is < 10 % busy; prints the last figure.
wait_idle() {
  local busy waited=0
  busy=$(machine_busy)
  while [ "$busy" -ge 10 ] && [ "$waited" -lt "${BENCH_IDLE_WAIT:-300}" ]; do
    [ "$waited" != 0 ] || log "the machine is busy ($busy % of the CPU used by other processes): waiting"
    nap 4
    waited=$((waited + 5))
    busy=$(machine_busy)
  done
  echo "$busy"
}
# our_pids: the processes under test besides wrk (a descendant of this script): server, nginx, PostgreSQL, or
# the API server and etcd that keep the ConfigMaps.
our_pids() {
  [ -z "$server_pid" ] || echo "$server_pid"
  [ -z "$nginx_pid" ] || echo "$nginx_pid"
  [ "${1:-}" != postgres ] || pgrep -x postgres || true
  [ "${1:-}" != configmap ] || pgrep -x kube-apiserver || true
  [ "${1:-}" != configmap ] || pgrep -x etcd || true
}

# --- load ---------------------------------------------------------------------------------------------------
# run_wrk BACKEND MODE QUERY URL [lua args...]: warm-up, then the measured run; records one line. A run during
# which other processes used more than BENCH_MAX_OTHER % of the machine is repeated; the least disturbed is kept.
run_wrk() {
  local backend=$1 mode=$2 query=$3 url=$4
  shift 4
  local script="$here/wrk/report.lua"
  local extra=()
  if [ "$#" -gt 0 ]; then
    script="$here/wrk/detail_random.lua"
    extra=(-- "$@")
  fi
  local status size
  if [ "$#" -eq 0 ]; then
    read -r status size < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' "$url")
    [ "$status" = 200 ] || die "$backend $query: GET $url answered $status"
  else
    size=-
  fi
  local tag="$backend-$mode-$query"
  local attempt kept=1 best_other=1000 best_line="" max_other=${BENCH_MAX_OTHER:-5}
  for attempt in $(seq "${BENCH_ATTEMPTS:-3}"); do
    local busy other res
    busy=$(wait_idle)
    wrk -c"$conns" -t"$threads" -d"$warmup" --timeout 10s -s "$script" "$url" "${extra[@]}" >/dev/null
    cpu_snapshot "$work/cpu0" start
    wrk -c"$conns" -t"$threads" -d"$duration" --timeout 10s --latency -s "$script" "$url" "${extra[@]}" \
      >"$work/wrk-$tag.txt"
    cpu_snapshot "$work/cpu1" end
    other=$(other_cpu "$work/cpu0" "$work/cpu1" $$ $(our_pids "$backend"))
    res=$(grep '^BENCH_RESULT' "$work/wrk-$tag.txt" | sed 's/^BENCH_RESULT //' || true)
    local cache=-
    if [ "$size" != - ]; then # X-Registry-Cache of the same request once the run is over (HIT: cached)
      cache=$(curl -s -o /dev/null -D - "$url" |
        awk -F': ' 'tolower($1) == "x-registry-cache" { gsub("\r", "", $2); print $2 }' || true)
    fi
    [ -n "$res" ] || die "$tag: no result from wrk (see $work/wrk-$tag.txt)"
    log "$tag (attempt $attempt, other processes $other % of the CPU): $res"
    if awk -v a="$other" -v b="$best_other" 'BEGIN { exit !(a < b) }'; then
      best_other=$other kept=$attempt
      best_line="body_bytes=$size cache_header=${cache:--} busy_before=$busy other_cpu=$other $res"
      cp "$work/wrk-$tag.txt" "$work/wrk-$tag.kept.txt"
    fi
    awk -v a="$other" -v m="$max_other" 'BEGIN { exit !(a < m) }' && break
  done
  record "run backend=$backend mode=$mode query=$query attempts=$attempt kept=$kept $best_line"
}

# run_queries BACKEND MODE
run_queries() {
  local backend=$1 mode=$2 base="http://127.0.0.1:$port"
  run_wrk "$backend" "$mode" list_first "$base/v0.1/servers?limit=30"
  run_wrk "$backend" "$mode" list_deep "$base/v0.1/servers?limit=30&cursor=$DEEP_CURSOR"
  run_wrk "$backend" "$mode" latest_first "$base/v0.1/servers?limit=30&version=latest"
  run_wrk "$backend" "$mode" search_common "$base/v0.1/servers?limit=30&search=$COMMON_WORD"
  run_wrk "$backend" "$mode" search_rare "$base/v0.1/servers?limit=30&search=$RARE_WORD"
  run_wrk "$backend" "$mode" detail_latest "$base/v0.1/servers/$DETAIL_NAME/versions/latest"
  run_wrk "$backend" "$mode" detail_exact "$base/v0.1/servers/$DETAIL_NAME/versions/$DETAIL_VERSION"
  run_wrk "$backend" "$mode" detail_random "$base" "$NAMES" latest
}

# start_server DATABASE_URL LOG [flags...]: starts the registry; returns once /v0.1/health answers.
start_server() {
  local db_url=$1 slog=$2
  shift 2
  env -u THV_REGISTRY_CONFIG -u THV_REGISTRY_ADMIN_TOKEN -u THV_REGISTRY_NO_SEED -u THV_REGISTRY_LOG \
    -u THV_REGISTRY_READ_CACHE_BYTES -u THV_REGISTRY_READ_CACHE_TTL_SECONDS -u THV_REGISTRY_SEED_FROM \
    XDG_DATA_HOME="$work/xdg" \
    "$bin" --listen "127.0.0.1:$port" --database-url "$db_url" "$@" \
    ${pool:+--max-connections "$pool"} --log-format json 2>"$slog" >/dev/null &
  server_pid=$!
  local started=${EPOCHREALTIME/./}
  # Wait for the port without starting a process per try (the server binds once the import is done).
  until { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || { tail -5 "$slog" >&2; die "the server exited (see $slog)"; }
    [ $(( ${EPOCHREALTIME/./} - started )) -lt 300000000 ] || die "the server is not listening after 300 s"
    nap 0.005
  done
  exec 3>&-
  until curl -fs -o /dev/null "http://127.0.0.1:$port/v0.1/health" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || { tail -5 "$slog" >&2; die "the server exited (see $slog)"; }
    [ $(( ${EPOCHREALTIME/./} - started )) -lt 300000000 ] || die "the server is not healthy after 300 s"
    nap 0.01
  done
}

# bench_backend NAME DATABASE_URL
bench_backend() {
  local backend=$1 db_url=$2 base="http://127.0.0.1:$port"

  # (1) import
  local slog="$work/server-$backend-import.log" busy t0 t1 other
  log "$backend: starting the server on an empty database, seeding from $(basename "$data")"
  busy=$(wait_idle)
  cpu_snapshot "$work/cpu0" start
  t0=$(now_us)
  start_server "$db_url" "$slog" --seed-from "$data"
  t1=$(now_us)
  cpu_snapshot "$work/cpu1" end
  # the server is ours; so are this script's own helpers (the curl health probes) during the import
  other=$(other_cpu "$work/cpu0" "$work/cpu1" $$ $(our_pids "$backend"))
  local seeded
  seeded=$(grep 'seeded an empty database' "$slog" | grep -o '"versions":[0-9]*' | cut -d: -f2 || true)
  [ "${seeded:-0}" = "$VERSIONS" ] || die "$backend: seeded ${seeded:-nothing}, expected $VERSIONS (see $slog)"
  local import_ms=$(( (t1 - t0) / 1000 ))
  record "import backend=$backend busy_before=$busy other_cpu=$other ms=$import_ms versions=$seeded" \
    "rss_kb=$(proc_kb "$server_pid" VmRSS) hwm_kb=$(proc_kb "$server_pid" VmHWM)"
  log "$backend: $seeded versions imported, healthy after $import_ms ms (other processes $other % of the CPU);" \
    "RSS $(proc_kb "$server_pid" VmRSS) kB, peak $(proc_kb "$server_pid" VmHWM) kB"
  stop_server

  case $backend in
    sqlite)
      local db_file=${db_url#sqlite://}
      record "dbsize backend=$backend bytes=$(( $(stat -c %s "$db_file") + $(stat -c %s "$db_file-wal" 2>/dev/null || echo 0) ))"
      ;;
    postgres)
      # As autovacuum would shortly after a bulk load; done here so that it does not run during the load.
      psql -q -X "$db_url" -c 'VACUUM (ANALYZE) server_versions' -c 'VACUUM (ANALYZE) server_remote_urls'
      record "dbsize backend=$backend bytes=$(psql -X -At "$db_url" -c 'SELECT pg_database_size(current_database())')"
      ;;
    configmap)
      # What the store's ConfigMaps hold (their data, compressed rows included), and how many there are.
      record "dbsize backend=$backend $(kube_curl "$kube_api/api/v1/namespaces/thv-bench/configmaps" | python3 -c '
import base64, json, sys
items = json.load(sys.stdin)["items"]
size = sum(len(base64.b64decode(v)) for i in items for v in (i.get("binaryData") or {}).values())
size += sum(len(v.encode()) for i in items for v in (i.get("data") or {}).values())
largest = max([len(base64.b64decode(v)) for i in items for v in (i.get("binaryData") or {}).values()] or [0])
print(f"bytes={size} objects={len(items)} largest={largest}")')"
      ;;
  esac

  # (2) the default configuration (read cache on), restarted on the populated database
  log "$backend: serving the populated database, default configuration (read cache on)"
  start_server "$db_url" "$work/server-$backend-cache.log" --no-seed
  record "rss backend=$backend mode=cache phase=start rss_kb=$(proc_kb "$server_pid" VmRSS) hwm_kb=$(proc_kb "$server_pid" VmHWM)"
  if [ ! -s "$work/static/first-page.json" ]; then # the page nginx serves: the registry's own first page
    mkdir -p "$work/static"
    curl -fsS "$base/v0.1/servers?limit=30" -o "$work/static/first-page.json"
  fi
  run_queries "$backend" cache
  # References, not goal queries: one `SELECT 1` per request (never cached), and (once) no database at all.
  run_wrk "$backend" cache health "$base/v0.1/health"
  [ "$backend" != sqlite ] || run_wrk "$backend" cache ping "$base/v0.1/ping"
  record "rss backend=$backend mode=cache phase=after rss_kb=$(proc_kb "$server_pid" VmRSS) hwm_kb=$(proc_kb "$server_pid" VmHWM)"
  log "$backend: after the load RSS $(proc_kb "$server_pid" VmRSS) kB, peak $(proc_kb "$server_pid" VmHWM) kB"
  stop_server

  # (3) the read cache off: every request reaches the database
  if [ "$skip_nocache" != 1 ]; then
    log "$backend: serving the populated database with the read cache off"
    start_server "$db_url" "$work/server-$backend-nocache.log" --no-seed --read-cache-bytes 0
    record "rss backend=$backend mode=nocache phase=start rss_kb=$(proc_kb "$server_pid" VmRSS) hwm_kb=$(proc_kb "$server_pid" VmHWM)"
    run_queries "$backend" nocache
    record "rss backend=$backend mode=nocache phase=after rss_kb=$(proc_kb "$server_pid" VmRSS) hwm_kb=$(proc_kb "$server_pid" VmHWM)"
    log "$backend: after the load RSS $(proc_kb "$server_pid" VmRSS) kB, peak $(proc_kb "$server_pid" VmHWM) kB"
    stop_server
  fi

  explain_plans "$backend" "$db_url" >"$work/plans-$backend.txt" 2>&1 ||
    log "$backend: query plans failed (see $work/plans-$backend.txt)"
}

# The list statements without the search ones (which registry-api/src/store/sql.rs builds per term), binds
# inlined, for the query plans.
list_sql() {
  local cols="server_name, version, value, status, status_message, status_changed_at, published_at, updated_at, is_latest, search_text"
  local head="SELECT $cols FROM server_versions WHERE 1=1 AND status <> 'deleted'"
  local deep_name deep_version detail
  deep_name=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.unquote(sys.argv[1]).rsplit(":",1)[0])' "$DEEP_CURSOR")
  deep_version=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.unquote(sys.argv[1]).rsplit(":",1)[1])' "$DEEP_CURSOR")
  detail=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$DETAIL_NAME")
  echo "list_first|$head ORDER BY server_name, version LIMIT 30"
  echo "list_deep|$head AND (server_name, version) > ('$deep_name', '$deep_version') ORDER BY server_name, version LIMIT 30"
  echo "latest_first|$head AND is_latest ORDER BY server_name, version LIMIT 30"
  echo "search_like_common|$head AND search_text LIKE '%$COMMON_WORD%' ESCAPE '\\' ORDER BY server_name, version LIMIT 30"
  echo "search_like_rare|$head AND search_text LIKE '%$RARE_WORD%' ESCAPE '\\' ORDER BY server_name, version LIMIT 30"
  [ "${1:-}" != sqlite ] ||
    echo "search_fts_rare|SELECT $cols FROM (SELECT rowid AS rid FROM server_search WHERE server_search MATCH '\"$RARE_WORD\"') AS m CROSS JOIN server_versions ON server_versions.id = m.rid WHERE 1=1 AND status <> 'deleted' ORDER BY server_name, version LIMIT 30"
  echo "detail_latest|SELECT $cols FROM server_versions WHERE server_name = '$detail' AND is_latest"
  echo "detail_exact|SELECT $cols FROM server_versions WHERE server_name = '$detail' AND version = '$DETAIL_VERSION'"
}

explain_plans() {
  local backend=$1 db_url=$2
  list_sql "$backend" | while IFS='|' read -r q sql; do
    echo "== $q"
    echo "$sql"
    case $backend in
      sqlite)
        python3 - "${db_url#sqlite://}" "$sql" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
for row in db.execute("EXPLAIN QUERY PLAN " + sys.argv[2]):
    print("  " + str(row[3]))
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    n = len(db.execute(sys.argv[2]).fetchall())
    best = min(best, time.perf_counter() - t)
print(f"  -- {n} rows in {best * 1000:.2f} ms (python sqlite3 {sqlite3.sqlite_version}, one connection, warm cache)")
EOF
        ;;
      postgres)
        psql -X -At "$db_url" -c "EXPLAIN (ANALYZE, BUFFERS) $sql" | sed 's/^/  /'
        ;;
    esac
  done
}

record "meta commit=$commit code_commit=$code_commit bin_given=${BENCH_BIN:+1} dirty_files=\"$dirty\" date=$(date -u +%Y-%m-%dT%H:%M:%SZ) duration=$duration warmup=$warmup conns=$conns threads=$threads pool=${pool:-default}"
record "machine cpus=$(nproc) mem_mb=$(free -m | awk '/^Mem:/ {print $2}') kernel=$(uname -r) cpu_model=\"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo | tr -s ' ')\""
record "tools wrk=\"$(wrk --version 2>&1 | head -1 | awk '{print $2}')\" nginx=\"$("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///')\" rustc=\"$(rustc --version 2>/dev/null | awk '{print $2}')\""
record "data versions=$VERSIONS names=$NAMES bytes=$(stat -c %s "$data") common_word=$COMMON_WORD common_count=$COMMON_COUNT rare_word=$RARE_WORD rare_count=$RARE_COUNT deep_cursor=$DEEP_CURSOR detail=$DETAIL_NAME detail_version=$DETAIL_VERSION"
rm -f "$work/static/first-page.json"

# --- SQLite -------------------------------------------------------------------------------------------------
db="$work/bench.db"
rm -f "$db" "$db-wal" "$db-shm"
bench_backend sqlite "sqlite://$db"

# --- PostgreSQL ---------------------------------------------------------------------------------------------
if [ "$skip_pg" != 1 ]; then
  log "postgres: starting the throwaway cluster"
  eval "$("$repo/scripts/start-postgres.sh")"
  pg_admin=$TEST_DATABASE_URL
  psql -q -X "$pg_admin" -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS thv_bench' \
    -c 'CREATE DATABASE thv_bench'
  pg_url="${pg_admin%/*}/thv_bench"
  record "pg version=\"$(psql -X -At "$pg_admin" -c 'SHOW server_version')\" settings=\"$(psql -X -At "$pg_admin" -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync','shared_buffers','synchronous_commit','max_connections')")\""
  bench_backend postgres "$pg_url"
else
  log "postgres: skipped (BENCH_SKIP_PG=1)"
fi

# --- ConfigMaps ---------------------------------------------------------------------------------------------
if [ "$skip_cm" != 1 ]; then
  log "configmap: starting the test control plane (etcd, kube-apiserver)"
  eval "$("$repo/scripts/start-kube-apiserver.sh")"
  export KUBECONFIG
  kube_state=${THV_TEST_KUBE_DIR:-/tmp/thv-test-kube}
  kube_api=$(awk '/server:/ {print $2; exit}' "$KUBECONFIG")
  kube_curl() {
    curl -fsS --cacert "$kube_state/pki/ca.crt" --cert "$kube_state/pki/admin.crt" \
      --key "$kube_state/pki/admin.key" "$@"
  }
  # A fresh namespace: the one of an earlier run is deleted first (its ConfigMaps with it).
  kube_curl -X DELETE "$kube_api/api/v1/namespaces/thv-bench" >/dev/null 2>&1 || true
  for _ in $(seq 600); do
    kube_curl "$kube_api/api/v1/namespaces/thv-bench" >/dev/null 2>&1 || break
    nap 0.5
  done
  kube_curl -X POST -H 'Content-Type: application/json' -d '{"metadata":{"name":"thv-bench"}}' \
    "$kube_api/api/v1/namespaces" >/dev/null
  record "kube version=\"$(kube_curl "$kube_api/version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])')\""
  bench_backend configmap "configmap://thv-bench/registry"
else
  log "configmap: skipped (BENCH_SKIP_CM=1)"
fi

# --- nginx: the same first page as a static file ------------------------------------------------------------
ngx="$work/nginx"
mkdir -p "$ngx/logs" "$ngx/tmp"
chmod -R a+rX "$work/static"
cat >"$ngx/nginx.conf" <<EOF
worker_processes $(nproc);
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  open_file_cache max=16;
  types { }
  default_type application/json;
  client_body_temp_path $ngx/tmp/body;
  proxy_temp_path $ngx/tmp/proxy;
  fastcgi_temp_path $ngx/tmp/fastcgi;
  uwsgi_temp_path $ngx/tmp/uwsgi;
  scgi_temp_path $ngx/tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/static;
  }
}
EOF
log "nginx: serving the first page as a static file on 127.0.0.1:$nginx_port"
"$nginx_bin" -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon off;' 2>"$ngx/logs/stderr.log" &
nginx_pid=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$nginx_port/first-page.json" && break; nap 0.05; done
run_wrk nginx static static_first "http://127.0.0.1:$nginx_port/first-page.json"
stop_nginx

# --- report -------------------------------------------------------------------------------------------------
python3 "$here/report.py" "$raw" "$work" "$here/registry-notes.md" >"$out"
log "wrote $out"

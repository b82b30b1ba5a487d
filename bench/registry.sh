#!/usr/bin/env bash
# Registry benchmark: seed 100,000 synthetic versions (20,000 names) into thv-registry-api on SQLite and on
# PostgreSQL, then load list pages, search and detail reads with wrk at 64 connections, beside nginx serving the
# first page as a static file (the ceiling). Writes bench/results/registry.md.
#
# Usage: bench/registry.sh
#
# Environment (all optional):
#   BENCH_SKIP_PG=1          skip the PostgreSQL half
#   BENCH_DURATION=10s       wrk duration of each measured run (each is preceded by a BENCH_WARMUP run)
#   BENCH_WARMUP=2s          wrk warm-up duration (not reported)
#   BENCH_CONNECTIONS=64     wrk connections       BENCH_THREADS=2   wrk threads
#   BENCH_NAMES=20000        synthetic names       BENCH_VERSIONS=5  versions per name
#   BENCH_MAX_CONNECTIONS=16 the server's database pool size (its default)
#   BENCH_PORT=18080         registry port          BENCH_NGINX_PORT=18081  nginx port (127.0.0.1 only)
#   BENCH_BIN=path           use this thv-registry-api binary instead of building one
#   CARGO_TARGET_DIR         where the release build goes (default: <repo>/target-bench)
#   BENCH_WORK=dir           scratch directory (default: bench/work, git-ignored)
#   BENCH_OUT=file           results file (default: bench/results/registry.md)
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
pool=${BENCH_MAX_CONNECTIONS:-16}
port=${BENCH_PORT:-18080}
nginx_port=${BENCH_NGINX_PORT:-18081}
skip_pg=${BENCH_SKIP_PG:-0}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$work" "$(dirname "$out")"
raw="$work/raw.txt"
: >"$raw"
record() { printf '%s\n' "$*" >>"$raw"; }

# --- tools --------------------------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
if [ "$skip_pg" != 1 ] && ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  need_apt+=(postgresql)
fi
command -v psql >/dev/null || [ "$skip_pg" = 1 ] || need_apt+=(postgresql-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}: install them (apt-get install ${need_apt[*]})"
  log "installing ${need_apt[*]}"
  apt-get update -qq
  # policy-rc.d or not, nginx/postgresql must not start system services on default ports for us: we run our own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# --- build --------------------------------------------------------------------------------------------------
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target-bench}
  log "building thv-registry-api (release) into $CARGO_TARGET_DIR"
  (cd "$repo" && cargo build --release -q -p thv-registry-api)
  bin=$CARGO_TARGET_DIR/release/thv-registry-api
fi
[ -x "$bin" ] || die "no binary at $bin"

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

now_ns() { date +%s%N; }

proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# run_wrk BACKEND QUERY URL [lua args...]: warm-up, then the measured run; records one line.
run_wrk() {
  local backend=$1 query=$2 url=$3
  shift 3
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
    status=200 size=-
  fi
  wrk -c"$conns" -t"$threads" -d"$warmup" --timeout 10s -s "$script" "$url" "${extra[@]}" >/dev/null
  local res
  res=$(wrk -c"$conns" -t"$threads" -d"$duration" --timeout 10s --latency -s "$script" "$url" "${extra[@]}" |
    tee "$work/wrk-$backend-$query.txt" | grep '^BENCH_RESULT' | sed 's/^BENCH_RESULT //')
  [ -n "$res" ] || die "$backend $query: no result from wrk"
  record "run backend=$backend query=$query body_bytes=$size $res"
  log "$backend $query: $res"
}

# bench_backend NAME DATABASE_URL
bench_backend() {
  local backend=$1 db_url=$2
  local base="http://127.0.0.1:$port"
  local slog="$work/server-$backend.log"
  log "$backend: starting the server on an empty database, seeding from $(basename "$data")"
  local t0 t1
  t0=$(now_ns)
  env -u THV_REGISTRY_CONFIG -u THV_REGISTRY_ADMIN_TOKEN -u THV_REGISTRY_NO_SEED -u THV_REGISTRY_LOG \
    XDG_DATA_HOME="$work/xdg" \
    "$bin" --listen "127.0.0.1:$port" --database-url "$db_url" --seed-from "$data" \
    --max-connections "$pool" --log-format json 2>"$slog" >/dev/null &
  server_pid=$!
  until curl -fs -o /dev/null "$base/v0.1/health" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || { tail -5 "$slog" >&2; die "$backend: the server exited"; }
    [ $(( $(now_ns) - t0 )) -lt 300000000000 ] || die "$backend: not healthy after 300 s"
    sleep 0.01
  done
  t1=$(now_ns)
  local seeded
  seeded=$(grep 'seeded an empty database' "$slog" | grep -o '"versions":[0-9]*' | cut -d: -f2 || true)
  [ "${seeded:-0}" = "$VERSIONS" ] || die "$backend: seeded ${seeded:-nothing}, expected $VERSIONS (see $slog)"
  local import_ms=$(( (t1 - t0) / 1000000 ))
  local rss0 hwm0
  rss0=$(proc_kb "$server_pid" VmRSS)
  hwm0=$(proc_kb "$server_pid" VmHWM)
  record "import backend=$backend ms=$import_ms versions=$seeded rss_kb=$rss0 hwm_kb=$hwm0"
  log "$backend: $seeded versions imported and healthy in $import_ms ms (RSS $rss0 kB, peak $hwm0 kB)"

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
  esac

  # The page nginx serves: the registry's own first page.
  if [ ! -s "$work/static/first-page.json" ]; then
    mkdir -p "$work/static"
    curl -fsS "$base/v0.1/servers?limit=30" -o "$work/static/first-page.json"
  fi

  run_wrk "$backend" list_first "$base/v0.1/servers?limit=30"
  run_wrk "$backend" list_deep "$base/v0.1/servers?limit=30&cursor=$DEEP_CURSOR"
  run_wrk "$backend" latest_first "$base/v0.1/servers?limit=30&version=latest"
  run_wrk "$backend" search_common "$base/v0.1/servers?limit=30&search=$COMMON_WORD"
  run_wrk "$backend" search_rare "$base/v0.1/servers?limit=30&search=$RARE_WORD"
  run_wrk "$backend" detail_latest "$base/v0.1/servers/$DETAIL_NAME/versions/latest"
  run_wrk "$backend" detail_exact "$base/v0.1/servers/$DETAIL_NAME/versions/$DETAIL_VERSION"
  run_wrk "$backend" detail_random "$base" "$NAMES" latest

  local rss1 hwm1
  rss1=$(proc_kb "$server_pid" VmRSS)
  hwm1=$(proc_kb "$server_pid" VmHWM)
  record "rss backend=$backend rss_kb=$rss1 hwm_kb=$hwm1"
  log "$backend: after the load RSS $rss1 kB, peak $hwm1 kB"
  stop_server

  explain_plans "$backend" "$db_url" >"$work/plans-$backend.txt" 2>&1 || log "$backend: query plans failed (see $work/plans-$backend.txt)"
}

# The list statements as registry-api/src/store/sql.rs builds them (binds inlined), for the query plans.
list_sql() {
  local cols="server_name, version, value, status, status_message, status_changed_at, published_at, updated_at, is_latest, search_text"
  local head="SELECT $cols FROM server_versions WHERE 1=1 AND status <> 'deleted'"
  local deep_name deep_version
  deep_name=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.unquote(sys.argv[1]).rsplit(":",1)[0])' "$DEEP_CURSOR")
  deep_version=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.unquote(sys.argv[1]).rsplit(":",1)[1])' "$DEEP_CURSOR")
  local detail
  detail=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$DETAIL_NAME")
  echo "list_first|$head ORDER BY server_name, version LIMIT 30"
  echo "list_deep|$head AND (server_name, version) > ('$deep_name', '$deep_version') ORDER BY server_name, version LIMIT 30"
  echo "latest_first|$head AND is_latest ORDER BY server_name, version LIMIT 30"
  echo "search_common|$head AND search_text LIKE '%$COMMON_WORD%' ESCAPE '\\' ORDER BY server_name, version LIMIT 30"
  echo "search_rare|$head AND search_text LIKE '%$RARE_WORD%' ESCAPE '\\' ORDER BY server_name, version LIMIT 30"
  echo "detail_latest|SELECT $cols FROM server_versions WHERE server_name = '$detail' AND is_latest"
  echo "detail_exact|SELECT $cols FROM server_versions WHERE server_name = '$detail' AND version = '$DETAIL_VERSION'"
}

explain_plans() {
  local backend=$1 db_url=$2
  list_sql | while IFS='|' read -r q sql; do
    echo "== $q"
    echo "$sql"
    case $backend in
      sqlite)
        python3 - "${db_url#sqlite://}" "$sql" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
for row in db.execute("EXPLAIN QUERY PLAN " + sys.argv[2]):
    print("  " + "  " * 0 + str(row[3]))
t = time.perf_counter()
n = len(db.execute(sys.argv[2]).fetchall())
print(f"  -- {n} rows in {(time.perf_counter() - t) * 1000:.2f} ms (python sqlite3 {sqlite3.sqlite_version}, one connection, warm cache)")
EOF
        ;;
      postgres)
        psql -X -At "$db_url" -c "EXPLAIN (ANALYZE, BUFFERS) $sql" | sed 's/^/  /'
        ;;
    esac
  done
}

commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(cd "$repo" && git status --porcelain --untracked-files=no -- registry-api/src core/src migrations Cargo.lock 2>/dev/null | awk '{print $2}' | paste -sd, -)
record "meta commit=$commit dirty_files=\"$dirty\" date=$(date -u +%Y-%m-%dT%H:%M:%SZ) duration=$duration warmup=$warmup conns=$conns threads=$threads pool=$pool"
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
  psql -q -X "$pg_admin" -c 'DROP DATABASE IF EXISTS thv_bench' -c 'CREATE DATABASE thv_bench'
  pg_url="${pg_admin%/*}/thv_bench"
  record "pg version=\"$(psql -X -At "$pg_admin" -c 'SHOW server_version')\" settings=\"$(psql -X -At "$pg_admin" -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync','shared_buffers','synchronous_commit','max_connections')")\""
  bench_backend postgres "$pg_url"
else
  log "postgres: skipped (BENCH_SKIP_PG=1)"
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
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$nginx_port/first-page.json" && break; sleep 0.05; done
run_wrk nginx static_first "http://127.0.0.1:$nginx_port/first-page.json"
stop_nginx

# --- report -------------------------------------------------------------------------------------------------
python3 "$here/report.py" "$raw" "$work" "$here/registry-notes.md" >"$out"
log "wrote $out"

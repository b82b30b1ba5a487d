#!/usr/bin/env bash
# Middleware benchmark: the latency each proxy middleware adds, alone and as the full chain, to tools/call round
# trips through thv's stdio proxy (proxy/examples/stdio_proxy.rs, the server thv-test-mcp-server as a local child
# over stdio, no container) — one client session, closed loop (proxy/examples/mcp_load.rs). Appends its table to
# bench/results/proxy.md (replacing an earlier middleware section) and writes bench/results/middleware.md.
#
# Variants: none; tool-filter (--tools echo,add,sleep); authorization (Cedar: three policies); audit (NDJSON to a
# file, request data included); telemetry (Prometheus); auth (OIDC: a local issuer started by the proxy, EdDSA
# JWT sent with every request); full (all of them, in the chain's order).
#
# Usage: bench/middleware.sh
# Environment: BENCH_DURATION=10 (s per variant)  BENCH_WARMUP=2  BENCH_PORT=18280  BENCH_SESSIONS=1
#   BENCH_ROUNDS=3 (each variant runs this many times, interleaved; the median p50 is kept)
#   CARGO_TARGET_DIR (default <repo>/target-bench)  BENCH_WORK (default bench/work/middleware)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${BENCH_WORK:-$here/work/middleware}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
port=${BENCH_PORT:-18280}
sessions=${BENCH_SESSIONS:-1}
rounds=${BENCH_ROUNDS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target-bench}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$work/bin"
rm -f "$work"/*.jsonl "$work"/*.log "$work"/audit.log
log "building stdio_proxy, mcp_load and thv-test-mcp-server (release) into $CARGO_TARGET_DIR"
(cd "$repo" && cargo build --release -q -p thv-proxy --example mcp_load --example stdio_proxy &&
  cargo build --release -q -p thv-test-mcp-server) || die "build failed"
for b in examples/mcp_load examples/stdio_proxy thv-test-mcp-server; do
  cp "$CARGO_TARGET_DIR/release/$b" "$work/bin/"
done
proxy="$work/bin/stdio_proxy" loadgen="$work/bin/mcp_load" server="$work/bin/thv-test-mcp-server"

# The middleware configurations (RunConfig middleware_configs).
authz='{"type":"authorization","parameters":{"config_data":{"version":"1.0","type":"cedarv1","cedar":{"policies":[
  "permit(principal, action == Action::\"call_tool\", resource == Tool::\"echo\");",
  "permit(principal, action == Action::\"call_tool\", resource == Tool::\"add\") when { principal.claim_roles.contains(\"admin\") };",
  "forbid(principal, action, resource) when { resource has arg_text && resource.arg_text == \"forbidden\" };"]}}}}'
audit="{\"type\":\"audit\",\"parameters\":{\"config\":{\"log_file\":\"$work/audit.log\",\"include_request_data\":true}}}"
telemetry='{"type":"telemetry","parameters":{"metrics_address":"127.0.0.1:0"}}'
echo "[]" >"$work/none.json"
echo "[$authz]" >"$work/authorization.json"
echo "[$audit]" >"$work/audit.json"
echo "[$telemetry]" >"$work/telemetry.json"
echo "[$telemetry,$audit,$authz]" >"$work/full.json"

# variant -> extra proxy flags
declare -A flags=(
  [none]="--middleware $work/none.json"
  [tool-filter]="--middleware $work/none.json --tools echo,add,sleep"
  [authorization]="--middleware $work/authorization.json"
  [audit]="--middleware $work/audit.json"
  [telemetry]="--middleware $work/telemetry.json"
  [auth]="--middleware $work/none.json --bench-oidc-token $work/token"
  [full]="--middleware $work/full.json --tools echo,add,sleep --bench-oidc-token $work/token"
)
variants=(none tool-filter authorization audit telemetry auth full)

wait_idle() { # up to 60 s for the machine to be < 10 % busy
  for _ in $(seq 60); do
    read -r _ a b c d _ < /proc/stat; t1=$((a + b + c + d)); i1=$d; sleep 1
    read -r _ a b c d _ < /proc/stat; t2=$((a + b + c + d)); i2=$d
    [ $(( 100 * ((t2 - t1) - (i2 - i1)) / (t2 - t1 + 1) )) -lt 10 ] && return 0
  done
  log "the machine stayed busy; measuring anyway"
}

run_variant() { # name round
  local name=$1 round=$2 pid line bearer=()
  rm -f "$work/token"
  # shellcheck disable=SC2086
  "$proxy" --port "$port" ${flags[$name]} -- "$server" 2>"$work/$name-$round.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  if [[ ${flags[$name]} == *bench-oidc-token* ]]; then
    for _ in $(seq 50); do [ -s "$work/token" ] && break; sleep 0.1; done
    bearer=(--bearer "$(cat "$work/token")")
  fi
  wait_idle
  line=$("$loadgen" --url "http://127.0.0.1:$port/mcp" --sessions "$sessions" --duration "$duration" \
    --warmup "$warmup" --label "$name" --cpu-of "$pid" "${bearer[@]}" 2>>"$work/$name-$round.loadgen.log") ||
    { kill "$pid"; die "$name: the load generator failed (see $work/$name-$round.loadgen.log)"; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  log "$name round $round: $line"
  echo "$line" >>"$work/$name.jsonl"
}

for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do run_variant "$v" "$round"; done
done
rm -f "$work/audit.log"

python3 - "$work" "$repo" "$duration" "$sessions" "$rounds" "${variants[@]}" <<'PY'
import json, os, statistics, subprocess, sys, datetime
work, repo, duration, sessions, rounds, *variants = sys.argv[1:]
rows = {v: [json.loads(l) for l in open(os.path.join(work, f"{v}.jsonl"))] for v in variants}
def med(v, f):
    return statistics.median(f(r) for r in rows[v])
commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
out = ["## Middleware: latency added per middleware and by the full chain", ""]
out.append(f"Generated by `bench/middleware.sh` on {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%MZ')} "
           f"(commit `{commit}`): {sessions} session, closed loop of `tools/call echo`, {duration} s measured per run, "
           f"{rounds} runs per variant, interleaved (medians shown); thv's stdio proxy (`proxy/examples/stdio_proxy.rs`) "
           "with the server as a local child process; the load generator, proxy and server share 2 cores. "
           "Goal: full chain < 100 µs p50 added.")
out.append("")
out.append("| variant | req/s | p50 µs | p99 µs | p50 added vs none (µs) | proxy CPU per call (µs) | other CPU % |")
out.append("|---|--:|--:|--:|--:|--:|--:|")
base = med("none", lambda r: r["p50_us"])
for v in variants:
    p50 = med(v, lambda r: r["p50_us"])
    cpu = med(v, lambda r: r["cpu"]["proxy_s"] * 1e6 / max(r["requests"], 1))
    other = med(v, lambda r: r["cpu"]["other_pct"])
    out.append(f"| {v} | {med(v, lambda r: r['rps']):,.0f} | {p50:.0f} | {med(v, lambda r: r['p99_us']):.0f} | "
               f"{p50 - base:+.0f} | {cpu:.0f} | {other} |")
full = med("full", lambda r: r["p50_us"]) - base
out += ["", f"**Full chain: {full:+.0f} µs p50 added — goal (< 100 µs) {'met' if full < 100 else 'not met'}.**", ""]
text = "\n".join(out) + "\n"
open(os.path.join(repo, "bench/results/middleware.md"), "w").write("# " + text[3:])
proxy_md = os.path.join(repo, "bench/results/proxy.md")
cur = open(proxy_md).read() if os.path.exists(proxy_md) else ""
marker = "## Middleware: latency added"
if marker in cur:
    cur = cur[:cur.index(marker)].rstrip() + "\n\n"
open(proxy_md, "w").write(cur.rstrip() + "\n\n" + text)
print(text)
PY

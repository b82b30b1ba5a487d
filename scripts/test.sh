#!/usr/bin/env bash
# Runs the whole test suite. The PostgreSQL half of the storage and API suites needs TEST_DATABASE_URL; when it is
# unset and Debian's PostgreSQL is installed, a throwaway cluster is started on 127.0.0.1 (scripts/start-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TEST_DATABASE_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  eval "$(scripts/start-postgres.sh)"
fi
echo "TEST_DATABASE_URL=${TEST_DATABASE_URL:-<unset: PostgreSQL tests skip outside CI>}"
# The runner's container tests need a Docker Engine API: use rootful Podman's socket (scripts/setup-podman.sh) when
# DOCKER_HOST is unset and it answers. Without an engine they skip, except under CI=true where they fail.
if [ -z "${DOCKER_HOST:-}" ] && [ -S /run/podman/podman.sock ] \
  && { curl -fsS --max-time 5 --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1 \
    || podman --url unix:///run/podman/podman.sock version >/dev/null 2>&1; }; then
  export DOCKER_HOST=unix:///run/podman/podman.sock
fi
echo "DOCKER_HOST=${DOCKER_HOST:-<unset: the runner container tests auto-detect an engine, or skip outside CI>}"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --bins --locked
# Tests that cannot run here record why (a test that returns early reports `ok`); under CI=true they fail instead.
skips="${CARGO_TARGET_DIR:-target}/debug/test-skips.log"
rm -f "$skips"
status=0
cargo test --workspace --locked "$@" || status=$?
if [ -s "$skips" ]; then
  echo "$(wc -l <"$skips") test(s) skipped here (each returned early and counts as ok above):"
  sort "$skips" | uniq -c | sed 's/^/  /'
else
  echo "no test skipped"
fi
exit "$status"

#!/usr/bin/env bash
# Runs the whole test suite. The PostgreSQL half of the storage and API suites needs TEST_DATABASE_URL; when it is
# unset and Debian's PostgreSQL is installed, a throwaway cluster is started on 127.0.0.1 (scripts/start-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TEST_DATABASE_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  eval "$(scripts/start-postgres.sh)"
fi
echo "TEST_DATABASE_URL=${TEST_DATABASE_URL:-<unset: PostgreSQL tests skip outside CI>}"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"

#!/usr/bin/env bash
# Regenerates the checked-in OpenAPI documents from the router (a test fails when they drift).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -p thv-registry-api -- openapi --format json > openapi/openapi.json
cargo run -q -p thv-registry-api -- openapi --format yaml > openapi/openapi.yaml

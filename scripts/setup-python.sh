#!/usr/bin/env bash
# Creates the Python venvs the end-to-end tests run tests/python/mcp_client.py with: the official MCP Python SDK
# 2.x (pinned in tests/python/requirements.txt) and, for the protocol-version tests, the 1.x SDK (pinned in
# tests/python/requirements-mcp1.txt). Idempotent: a venv already holding exactly its requirements is kept as it
# is. Prints the lines to eval:
#
#   eval "$(scripts/setup-python.sh)"     # export THV_TEST_PYTHON=<venv>/bin/python
#                                          # export THV_TEST_PYTHON_MCP1=<venv-mcp1>/bin/python
#
# THV_TEST_VENV: where the 2.x venv goes (default target/py-venv in the repository; the 1.x one is beside it,
# with the suffix -mcp1). PYTHON: the interpreter that creates them (default python3, 3.10 or later). As root
# with apt-get, python3-venv is installed when `python3 -m venv` cannot create a venv (Debian's python3 lacks
# ensurepip without it).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${THV_TEST_VENV:-$PWD/target/py-venv}
PYTHON=${PYTHON:-python3}

log() { echo "setup-python: $*" >&2; }

# setup VENV REQUIREMENTS VARIABLE: the venv with exactly those requirements; prints `export VARIABLE=...`.
setup() {
  local venv=$1 requirements=$2 variable=$3
  local stamp="$venv/.thv-requirements.sha256" want have
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
    && have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' \
      2>/dev/null); then
    log "$venv is up to date (mcp $have)"
    echo "export $variable=$venv/bin/python"
    return
  fi
  if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
    log "$venv exists and is not a venv: not touching it (set THV_TEST_VENV elsewhere)"
    exit 1
  fi
  if ! "$PYTHON" -m venv --clear "$venv" >&2; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "$PYTHON -m venv failed: installing python3-venv"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2 \
        || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          --no-install-recommends python3-venv >&2; }
      "$PYTHON" -m venv --clear "$venv" >&2
    else
      log "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"
      exit 1
    fi
  fi
  log "installing $requirements into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  "$venv/bin/python" -c 'import mcp.client.session, mcp.client.sse, mcp.client.streamable_http'
  echo "$want" >"$stamp"
  log "installed $(sed -n 's/^mcp==/mcp /p' "$requirements") with $("$venv/bin/python" --version)"
  echo "export $variable=$venv/bin/python"
}

setup "$VENV" tests/python/requirements.txt THV_TEST_PYTHON
setup "$VENV-mcp1" tests/python/requirements-mcp1.txt THV_TEST_PYTHON_MCP1

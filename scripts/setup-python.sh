#!/usr/bin/env bash
# Creates the Python venv the end-to-end tests run tests/python/mcp_client.py with (the official MCP Python SDK,
# pinned in tests/python/requirements.txt). Idempotent: a venv already holding exactly those requirements is kept
# as it is. Prints the line to eval:
#
#   eval "$(scripts/setup-python.sh)"     # export THV_TEST_PYTHON=<venv>/bin/python
#
# THV_TEST_VENV: where the venv goes (default target/py-venv in the repository). PYTHON: the interpreter that
# creates it (default python3, 3.10 or later). As root with apt-get, python3-venv is installed when `python3 -m
# venv` cannot create a venv (Debian's python3 lacks ensurepip without it).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${THV_TEST_VENV:-$PWD/target/py-venv}
PYTHON=${PYTHON:-python3}
REQUIREMENTS=tests/python/requirements.txt
STAMP="$VENV/.thv-requirements.sha256"

log() { echo "setup-python: $*" >&2; }

want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] \
  && have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' \
    2>/dev/null); then
  log "$VENV is up to date (mcp $have)"
  echo "export THV_TEST_PYTHON=$VENV/bin/python"
  exit 0
fi

if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ] && [ -n "$(ls -A "$VENV" 2>/dev/null)" ]; then
  log "$VENV exists and is not a venv: not touching it (set THV_TEST_VENV elsewhere)"
  exit 1
fi
make_venv() { "$PYTHON" -m venv --clear "$VENV" >&2; }

if ! make_venv; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "$PYTHON -m venv failed: installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2 \
      || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends python3-venv >&2; }
    make_venv
  else
    log "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"
    exit 1
  fi
fi
log "installing $REQUIREMENTS into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
"$VENV/bin/python" -c 'import mcp.client.session, mcp.client.sse, mcp.client.streamable_http'
echo "$want" >"$STAMP"
log "installed $(sed -n 's/^mcp==/mcp /p' "$REQUIREMENTS") with $("$VENV/bin/python" --version)"
echo "export THV_TEST_PYTHON=$VENV/bin/python"

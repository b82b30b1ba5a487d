#!/usr/bin/env bash
# Peer tools the tests drive, built from the Go module proxy at pinned versions into ~/.cache/thv-go-bin (kept
# between runs; rebuilt when the pinned version changes). Prints nothing; put the directory on PATH:
#   export PATH="${XDG_CACHE_HOME:-$HOME/.cache}/thv-go-bin:$PATH"
# - oras: the OCI artifact client, reads the mirror bundles;
# - publisher: the official registry's mcp-publisher, for the token exchange tests;
# - thv-toolhive: ToolHive's own CLI (its `thv`, renamed so it never shadows ours), the peer client of the
#   registry API. v0.47.0: every newer release needs modules this machine's Go module proxy does not serve
#   (github.com/jwx-go/jwkfetch/v4, toolhive-core/redisconn, golang.ngrok.com/ngrok/v2 v2.2.0, golang.org/x/exp
#   jsonrpc2/event) or Go 1.27.
# - helm: v4, for the operator's chart (lint, template, install onto the test API server).
set -euo pipefail
go_bin="${XDG_CACHE_HOME:-$HOME/.cache}/thv-go-bin"
mkdir -p "$go_bin"
installed() { [ -x "$go_bin/$1" ] && [ "$(cat "$go_bin/$1.version" 2>/dev/null)" = "$2" ]; }
install() { # NAME MODULE/CMD VERSION [BINARY]
  local name=$1 pkg=$2 version=$3 binary=${4:-$1}
  installed "$name" "$version" && return 0
  local tmp
  tmp=$(mktemp -d)
  # Module downloads and the compiler cache go to the scratch directory and are removed with it: only the binary
  # is kept (a CI machine's disk is left to the tests).
  GOBIN="$tmp/bin" GOCACHE="$tmp/gocache" GOMODCACHE="$tmp/gomod" go install "$pkg@$version" >&2
  mv "$tmp/bin/$binary" "$go_bin/$name"
  chmod -R u+w "$tmp"
  rm -rf "$tmp"
  echo "$version" >"$go_bin/$name.version"
}
install oras oras.land/oras/cmd/oras v1.3.6
install publisher github.com/modelcontextprotocol/registry/cmd/publisher v1.8.9
install thv-toolhive github.com/stacklok/toolhive/cmd/thv v0.47.0 thv
install helm helm.sh/helm/v4/cmd/helm v4.3.2

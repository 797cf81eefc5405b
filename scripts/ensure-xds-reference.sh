#!/usr/bin/env bash
# Build (once) and print the path of the bench's native xDS reference server
# (tools/xds-reference: go-control-plane's snapshot cache serving the bench mesh).
#
# Cached outside git: ${MESH_CACHE_DIR:-$HOME/.cache/meshd}/xds-reference/<stamp>/xds-reference,
# where <stamp> hashes go.mod, go.sum and the sources, so an edit rebuilds.
# Output on stdout: XDS_REFERENCE_BIN=/.../xds-reference. Progress goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD="$ROOT/tools/xds-reference"
command -v go >/dev/null || { echo "ensure-xds-reference: go toolchain not found (need Go >= 1.26)" >&2; exit 1; }

STAMP="$(cd "$MOD" && cat go.mod go.sum $(ls *.go | LC_ALL=C sort) | sha256sum | cut -c1-16)"
OUT="${MESH_CACHE_DIR:-${HOME:-/root}/.cache/meshd}/xds-reference/$STAMP"
BIN="$OUT/xds-reference"
if [ ! -x "$BIN" ]; then
  mkdir -p "$OUT"
  exec 9>"$OUT/.lock"
  flock 9
  if [ ! -x "$BIN" ]; then
    echo "ensure-xds-reference: building $BIN" >&2
    (cd "$MOD" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -o "$BIN.tmp" .)
    mv "$BIN.tmp" "$BIN"
  fi
fi
echo "XDS_REFERENCE_BIN=$BIN"

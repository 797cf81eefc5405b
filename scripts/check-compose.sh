#!/usr/bin/env bash
# Checks docker-compose.yml with a real compose parser, without a Docker engine: Debian's
# docker-compose (pinned 1.29.2) parses and validates `docker-compose config` offline.
# Installs it when missing (apt-get as root; else pip into a venv in the cache folder).
# Usage: scripts/check-compose.sh [--print]   (--print: the normalized config on stdout;
# COMPOSE_CHECK_FILE=path checks another file)
set -euo pipefail
cd "$(dirname "$0")/.."
file="${COMPOSE_CHECK_FILE:-docker-compose.yml}"
COMPOSE_VERSION=1.29.2
APT_VERSION=1.29.2-3
cache="${MESH_CACHE_DIR:-$HOME/.cache/meshd}/docker-compose-$COMPOSE_VERSION"

find_compose() {
  for c in "$cache/venv/bin/docker-compose" "$(command -v docker-compose || true)"; do
    if [ -n "$c" ] && [ -x "$c" ] && "$c" version --short 2>/dev/null | grep -qx "$COMPOSE_VERSION"; then echo "$c"; return 0; fi
  done
  return 1
}

if ! compose=$(find_compose); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "check-compose: installing docker-compose=$APT_VERSION (apt)" >&2
    apt-get install -y -q "docker-compose=$APT_VERSION" >&2 || { apt-get update -q >&2 && apt-get install -y -q "docker-compose=$APT_VERSION" >&2; } || true
  fi
  if ! compose=$(find_compose); then
    echo "check-compose: installing docker-compose==$COMPOSE_VERSION (pip, into $cache)" >&2
    mkdir -p "$cache"
    python3 -m venv "$cache/venv" >&2
    "$cache/venv/bin/pip" install -q --disable-pip-version-check "docker-compose==$COMPOSE_VERSION" >&2
    compose=$(find_compose) || { echo "check-compose: could not install docker-compose $COMPOSE_VERSION" >&2; exit 1; }
  fi
fi

if [ "${1:-}" = "--print" ]; then
  exec "$compose" -f "$file" config
fi
"$compose" -f "$file" config -q
echo "check-compose: $file is valid ($("$compose" -f "$file" config --services | tr '\n' ' '))" >&2

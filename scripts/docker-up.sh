#!/usr/bin/env bash
# Makes sure a Docker engine answers, and prints how to reach it (shell-evaluable on stdout:
# `export DOCKER_HOST=...` and `export MESH_DOCKERD_STARTED=0|<pid>`).
#
#   eval "$(bash scripts/docker-up.sh)"     # reuse the running engine, or start dockerd
#   bash scripts/docker-down.sh             # stops dockerd only if docker-up.sh started it
#
# An engine that already answers (DOCKER_HOST, or /var/run/docker.sock) is used as it is.
# Otherwise dockerd is started on /var/run/docker.sock (its log: $MESH_CACHE_DIR/docker/dockerd.log),
# after installing Debian's docker.io, docker-compose and containerd with apt when they are
# missing and we are root. When dockerd cannot start, the message says why (the last lines of
# its log) and the exit status is 1: callers fail, they never skip.
set -euo pipefail
log() { echo "docker-up: $*" >&2; }
CACHE="${MESH_CACHE_DIR:-${HOME:-/root}/.cache/meshd}/docker"
mkdir -p "$CACHE"

answers() { timeout 10 docker ${1:+-H "$1"} version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then
  echo "export DOCKER_HOST=$DOCKER_HOST"; echo "export MESH_DOCKERD_STARTED=0"; exit 0
fi
SOCK=unix:///var/run/docker.sock
if answers "$SOCK"; then echo "export DOCKER_HOST=$SOCK"; echo "export MESH_DOCKERD_STARTED=0"; exit 0; fi

missing=()
for c in dockerd docker-compose containerd runc; do command -v "$c" >/dev/null || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing docker.io docker-compose containerd (apt; missing: ${missing[*]})"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io docker-compose containerd >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io docker-compose containerd >&2; }
  else
    log "missing ${missing[*]}: install Debian's docker.io, docker-compose and containerd (apt-get install docker.io docker-compose containerd), or start a Docker engine and set DOCKER_HOST"
    exit 1
  fi
fi
# Debian's package ships a client; an older /usr/local/bin/docker works as well (API 1.41).
command -v docker >/dev/null || { log "no docker client on PATH (Debian's docker.io provides /usr/bin/docker)"; exit 1; }
[ "$(id -u)" = 0 ] || { log "dockerd needs root; start a Docker engine yourself and set DOCKER_HOST"; exit 1; }

LOGF="$CACHE/dockerd.log"
if [ -S /var/run/docker.sock ] && ! answers "$SOCK"; then
  # A socket left by a dockerd that died; dockerd refuses to start over a live pidfile only.
  if [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    log "dockerd (pid $(cat /var/run/docker.pid)) runs but does not answer on /var/run/docker.sock; stop it or set DOCKER_HOST"
    exit 1
  fi
fi
log "starting dockerd (log: $LOGF)"
# --bridge=none: no default docker0 bridge; compose makes its own (internal) networks and
# image builds use the host network.
setsid dockerd --pidfile /var/run/docker.pid --bridge=none ${MESH_DOCKERD_EXTRA_ARGS:-} </dev/null >"$LOGF" 2>&1 &
PID=$!
for _ in $(seq 1 150); do
  answers "$SOCK" && { log "dockerd ready (pid $PID)"; echo "export DOCKER_HOST=$SOCK"; echo "export MESH_DOCKERD_STARTED=$PID"; exit 0; }
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.2
done
log "dockerd did not start; the last lines of $LOGF:"
tail -n 15 "$LOGF" >&2 || true
kill "$PID" 2>/dev/null || true
log "what to do: read $LOGF (storage driver, cgroups, iptables are the usual causes), or start a Docker engine and set DOCKER_HOST"
exit 1

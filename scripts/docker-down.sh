#!/usr/bin/env bash
# Stops the dockerd that scripts/docker-up.sh started (MESH_DOCKERD_STARTED=<pid>); an engine
# that was already running is left alone.
set -euo pipefail
pid="${MESH_DOCKERD_STARTED:-0}"
[ "$pid" != 0 ] || exit 0
[ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q '^dockerd ' || exit 0
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
kill -KILL "$pid" 2>/dev/null || true

#!/usr/bin/env bash
# Stop a control plane started by scripts/kube-up.sh and remove its work dir.
#   scripts/kube-down.sh [WORK_DIR]     (default: $KUBE_WORK_DIR)
#   scripts/kube-down.sh --all          (every /dev/shm/meshd-kube.* left behind)
# Only the pids recorded in WORK_DIR/pids are signalled, and only if they
# still run a binary whose command line points at that WORK_DIR.
set -euo pipefail
log() { echo "kube-down: $*" >&2; }

stop_dir() {
  local W="$1" pid name
  [ -d "$W" ] || { log "no such dir: $W"; return 0; }
  [ -f "$W/pids" ] || [ -f "$W/tokens.csv" ] || { log "refusing: $W is not a kube-up work dir"; return 1; }
  local pids=()
  # kube-up.sh writes WORK_DIR/pids as soon as each process starts.
  for name in KUBE_APISERVER_PID KUBE_ETCD_PID; do   # apiserver first, then etcd
    pid="$(sed -n "s/^$name=//p" "$W/pids" 2>/dev/null | tail -n1)"
    [ -n "$pid" ] && pids+=("$pid")
  done
  local live=()
  for pid in "${pids[@]}"; do
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$W"; then
      kill -TERM "$pid" 2>/dev/null && live+=("$pid")
    fi
  done
  for i in $(seq 1 100); do
    local any=0
    for pid in "${live[@]}"; do kill -0 "$pid" 2>/dev/null && any=1; done
    [ "$any" = 0 ] && break
    sleep 0.1
  done
  for pid in "${live[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$W"
  log "stopped ${live[*]:-nothing} and removed $W"
}

if [ "${1:-}" = "--all" ]; then
  for d in /dev/shm/meshd-kube.* "${TMPDIR:-/tmp}"/meshd-kube.*; do [ -d "$d" ] && stop_dir "$d"; done
  exit 0
fi
W="${1:-${KUBE_WORK_DIR:-}}"
[ -n "$W" ] || { echo "usage: $0 WORK_DIR | --all   (or set KUBE_WORK_DIR)" >&2; exit 2; }
stop_dir "$W"

#!/usr/bin/env bash
# Stops the node that scripts/node-up.sh added to a kube-up work dir: every pod's containers
# (through the CRI, so nothing is left running), the kubelet, kube-proxy (and its iptables
# chains), the controllers, containerd; removes the pod bridge and the FORWARD rules.
#   scripts/node-down.sh [WORK_DIR]     (default: $KUBE_WORK_DIR); then scripts/kube-down.sh
set -uo pipefail
log() { echo "node-down: $*" >&2; }
W="${1:-${KUBE_WORK_DIR:-}}"
[ -n "$W" ] && [ -f "$W/pids" ] || { log "usage: $0 WORK_DIR (a kube-up work dir with a node)"; exit 2; }
N="$W/node"
pid_of() { sed -n "s/^$1=//p" "$W/pids" | tail -n1; }
ours() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$W"; }
stop() { # name pid
  local pid="$2"; ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null; log "$1 (pid $pid) needed SIGKILL"
}
stop kubelet "$(pid_of KUBE_KUBELET_PID)"
SOCK="$N/containerd/containerd.sock"
if [ -S "$SOCK" ]; then
  CTR=(ctr --address "$SOCK" -n k8s.io)
  # Every task (container process) and the pod sandboxes, through containerd itself.
  for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  sleep 0.5
  for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $("${CTR[@]}" containers ls -q 2>/dev/null); do "${CTR[@]}" containers delete "$c" >/dev/null 2>&1; done
fi
stop kube-proxy "$(pid_of KUBE_PROXY_PID)"
[ -n "${KUBE_PROXY_BIN:-}" ] || eval "$(MESH_K8S_CHECK=1 bash "$(dirname "$0")/ensure-k8s.sh" 2>/dev/null)" || true
# kube-proxy's chains in the host's nat/filter tables go with the node.
[ -n "${KUBE_PROXY_BIN:-}" ] && "$KUBE_PROXY_BIN" --cleanup >/dev/null 2>&1 || true
stop kube-scheduler "$(pid_of KUBE_SCHEDULER_PID)"
stop kube-controller-manager "$(pid_of KUBE_CONTROLLER_MANAGER_PID)"
stop containerd "$(pid_of KUBE_CONTAINERD_PID)"
# containerd-shim processes of this node (they outlive containerd by design).
for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
BRIDGE="$(pid_of KUBE_NODE_BRIDGE)"
NAME="$(pid_of KUBE_NODE_NAME)"
if [ -n "$BRIDGE" ]; then
  for dir in -i -o; do
    while iptables -w -D FORWARD "$dir" "$BRIDGE" -j ACCEPT -m comment --comment "meshd node $NAME" 2>/dev/null; do :; done
  done
  ip link del "$BRIDGE" 2>/dev/null
fi

for chain in FORWARD OUTPUT; do
  while iptables -w -D "$chain" -d 10.96.0.0/16 -j REJECT -m comment --comment "meshd node $NAME" 2>/dev/null; do :; done
done
# The kubelet's own chains (KUBE-FIREWALL, the canaries) in the host's tables.
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for chain in INPUT OUTPUT; do while "$ipt" -w -D "$chain" -j KUBE-FIREWALL 2>/dev/null; do :; done; done
  for table in filter nat mangle; do
    for c in KUBE-FIREWALL KUBE-KUBELET-CANARY; do "$ipt" -w -t "$table" -F "$c" 2>/dev/null && "$ipt" -w -t "$table" -X "$c" 2>/dev/null; done
  done
done
# Mounts left under the node dir (pod volumes, snapshots, netns) go before the dir does.
grep -F " $N/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-'); do
  [ -e "/var/run/netns/$ns" ] || continue
  # containerd's pod netns: only those no process of ours uses any more.
  ip netns pids "$ns" 2>/dev/null | grep -q . || ip netns del "$ns" 2>/dev/null
done
rm -rf "$N"
log "stopped the node in $W"

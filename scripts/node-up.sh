#!/usr/bin/env bash
# Adds a real node to a control plane started by scripts/kube-up.sh: containerd (Debian's,
# CRI, its own root, socket and config), kube-controller-manager, kube-scheduler, kube-proxy
# (iptables) and a kubelet, all built from Go modules by scripts/ensure-k8s.sh. Pods get
# addresses on a bridge of their own (CNI bridge + host-local, Debian's
# containernetworking-plugins); nothing is routed off the machine (no masquerade to the uplink).
# Images come from the local Docker engine (scripts/build-images.sh), imported with
# `ctr -n k8s.io images import`; the sandbox image is the locally built meshd/pause:3.10.
#
#   eval "$(scripts/kube-up.sh)"; eval "$(scripts/node-up.sh)"   # exports KUBE_NODE_NAME, ...
#   scripts/node-down.sh                                          # before scripts/kube-down.sh
#
# One node at a time on a machine (kube-proxy owns the host's KUBE-* iptables chains): a lock
# in $MESH_CACHE_DIR/node.lock is held by the kubelet's supervisor until node-down.
# Env: KUBE_WORK_DIR (required), MESH_NODE_IMAGES (images to import; default meshd:0.1.0
# meshd/envoy:v1.40.0 meshd/pause:3.10), MESH_NODE_TIMEOUT (seconds, default 90).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "node-up: $*" >&2; }
die() { log "$*"; exit 1; }
W="${KUBE_WORK_DIR:?KUBE_WORK_DIR is not set: eval \"\$(scripts/kube-up.sh)\" first}"
[ -f "$W/kube.env" ] || die "$W is not a kube-up work dir"
# shellcheck disable=SC1091
. "$W/kube.env"
bins="$(MESH_K8S_CHECK=1 bash "$HERE/ensure-k8s.sh")" || exit 1
eval "$bins"
CACHE="${MESH_CACHE_DIR:-${HOME:-/root}/.cache/meshd}"
[ "$(id -u)" = 0 ] || die "a kubelet needs root"
for c in containerd ctr runc iptables; do command -v "$c" >/dev/null || die "$c is missing: apt-get install containerd runc iptables"; done
CNI_BIN=/usr/lib/cni
[ -x "$CNI_BIN/bridge" ] || die "CNI plugins are missing in $CNI_BIN: apt-get install containernetworking-plugins"

# Checked before anything starts: a missing image leaves nothing behind.
IMAGES=(${MESH_NODE_IMAGES:-meshd:0.1.0 meshd/envoy:v1.40.0 meshd/pause:3.10})
docker version >/dev/null 2>&1 || die "no Docker engine answers (the images come from it): eval \"\$(bash scripts/docker-up.sh)\""
for img in "${IMAGES[@]}"; do
  docker image inspect "$img" >/dev/null 2>&1 || die "image $img is missing in the Docker engine: run bash scripts/build-images.sh"
done
# A port nobody listens on (TCP, 127.0.0.1 and the node IP are both checked by ss).
free_port() { # low high
  local p
  for _ in $(seq 1 200); do
    p=$(( $1 + RANDOM % ($2 - $1) ))
    ss -Htan "( sport = :$p )" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
  done
  die "no free port in $1-$2"
}

exec 8>"$CACHE/node.lock"
flock -w 600 8 || die "another node (scripts/node-up.sh) holds $CACHE/node.lock"
T0=$(date +%s%N); ms() { echo $(( ($(date +%s%N) - T0) / 1000000 )); }
N="$W/node"; mkdir -p "$N"/{containerd,kubelet,cni/net.d,cni/ipam,logs}
NAME="meshd-node-$(basename "$W" | tr -cd 'a-z0-9' | tail -c 6)"
# A pod subnet of its own: 10.213.X.0/24 with X not routed here yet.
for _ in $(seq 1 50); do X=$(( RANDOM % 250 + 1 )); ip route | grep -q "^10\.213\.$X\." || break; done
POD_CIDR="10.213.$X.0/24"; BRIDGE="meshd-cni$X"
# The node's own address (the kubelet refuses a loopback node IP, and this kernel has no dummy
# links): the pod bridge's gateway, made here before CNI reuses the bridge.
NODE_IP="10.213.$X.1"
echo "KUBE_NODE_BRIDGE=$BRIDGE" >> "$W/pids"
echo "KUBE_NODE_NAME=$NAME" >> "$W/pids"
ip link add "$BRIDGE" type bridge && ip addr add "$NODE_IP/24" dev "$BRIDGE" && ip link set "$BRIDGE" up || die "cannot create the pod bridge $BRIDGE"

READY=0
fail_cleanup() { [ "$READY" = 1 ] && return; log "failed; stopping what was started"; KUBE_WORK_DIR="$W" bash "$HERE/node-down.sh" >&2 || true; }
trap fail_cleanup EXIT

# --- containerd --------------------------------------------------------------------------
cat > "$N/containerd/config.toml" <<TOML
version = 2
root = "$N/containerd/root"
state = "$N/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$N/containerd/containerd.sock"
[ttrpc]
  address = "$N/containerd/containerd.sock.ttrpc"
[debug]
  address = "$N/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$N/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/meshd/pause:3.10"
  enable_selinux = false
  # This machine withholds CAP_SYS_RESOURCE, so a negative oom_score_adj (the kubelet asks -998
  # for sandboxes) fails runc with "failed to update /proc/self/oom_score_adj: Permission
  # denied"; containerd then keeps each container's value no lower than its own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${MESH_NODE_SNAPSHOTTER:-overlayfs}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$N/cni/net.d"
TOML
cat > "$N/cni/net.d/10-meshd.conflist" <<JSON
{ "cniVersion": "1.0.0", "name": "meshd-node",
  "plugins": [
    { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$N/cni/ipam" } },
    { "type": "portmap", "capabilities": { "portMappings": true } } ] }
JSON
setsid containerd --config "$N/containerd/config.toml" </dev/null >"$N/logs/containerd.log" 2>&1 &
echo "KUBE_CONTAINERD_PID=$!" >> "$W/pids"
CTR=(ctr --address "$N/containerd/containerd.sock" -n k8s.io)
for i in $(seq 1 100); do "${CTR[@]}" version >/dev/null 2>&1 && break; [ "$i" = 100 ] && { tail -n 20 "$N/logs/containerd.log" >&2; die "containerd did not start (log above)"; }; sleep 0.1; done

# --- images from the local Docker engine ---------------------------------------------------------
docker save "${IMAGES[@]}" | "${CTR[@]}" images import --all-platforms - >/dev/null || die "ctr images import failed"
T_IMG=$(ms)

# --- the network: forwarding on the pod bridge (Docker's FORWARD policy is DROP) -----------------
iptables -w -I FORWARD -i "$BRIDGE" -j ACCEPT -m comment --comment "meshd node $NAME"
iptables -w -I FORWARD -o "$BRIDGE" -j ACCEPT -m comment --comment "meshd node $NAME"
: > "$N/resolv.conf"   # pods resolve nothing off the machine
# Service IPs exist only through kube-proxy's DNAT: a packet still addressed to one after the
# nat table (in the instant a Service changes between no endpoints and some) must be refused
# here, not follow the default route off the machine. Forwarded that way it also left a
# conntrack entry without NAT that later SYNs from the same port (a client retrying) kept
# matching: one pod waited 2 minutes. (A route cannot do it: local connects would fail before
# the nat table translates them.)
for chain in FORWARD OUTPUT; do
  iptables -w -I "$chain" -d 10.96.0.0/16 -j REJECT -m comment --comment "meshd node $NAME"
done

# --- controllers -------------------------------------------------------------------------------------
setsid "$KUBE_CONTROLLER_MANAGER_BIN" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
  --leader-elect=false --secure-port=0 --use-service-account-credentials=false \
  --service-account-private-key-file="$W/sa.key" --root-ca-file="$KUBE_CA_FILE" \
  --cluster-cidr=10.213.0.0/16 --allocate-node-cidrs=false --controllers='*,-nodeipam,-cloud-node-lifecycle' \
  --node-monitor-grace-period=20s --v=1 </dev/null >"$N/logs/kube-controller-manager.log" 2>&1 &
echo "KUBE_CONTROLLER_MANAGER_PID=$!" >> "$W/pids"
setsid "$KUBE_SCHEDULER_BIN" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
  --leader-elect=false --secure-port=0 --v=1 </dev/null >"$N/logs/kube-scheduler.log" 2>&1 &
echo "KUBE_SCHEDULER_PID=$!" >> "$W/pids"
setsid "$KUBE_PROXY_BIN" --kubeconfig="$KUBECONFIG" --hostname-override="$NAME" --proxy-mode=iptables \
  --cluster-cidr="$POD_CIDR" --masquerade-all --conntrack-max-per-core=0 \
  --metrics-bind-address="127.0.0.1:$(free_port 34000 36000)" --healthz-bind-address="127.0.0.1:$(free_port 36000 38000)" --v=1 </dev/null >"$N/logs/kube-proxy.log" 2>&1 &
echo "KUBE_PROXY_PID=$!" >> "$W/pids"

# --- the kubelet -----------------------------------------------------------------------------------------
KPORT=$(free_port 32000 34000)
cat > "$N/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KPORT
readOnlyPort: 0
healthzPort: 0
authentication: { anonymous: { enabled: true }, webhook: { enabled: false } }
authorization: { mode: AlwaysAllow }
cgroupDriver: cgroupfs
cgroupsPerQOS: ${MESH_NODE_CGROUPS_PER_QOS:-true}
enforceNodeAllocatable: ${MESH_NODE_ENFORCE_ALLOCATABLE:-["pods"]}
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$N/containerd/containerd.sock
resolvConf: $N/resolv.conf
clusterDomain: cluster.local
maxPods: 60
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
localStorageCapacityIsolation: false
podPidsLimit: -1
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
shutdownGracePeriod: 0s
YAML
setsid "$KUBELET_BIN" --config="$N/kubelet/config.yaml" --kubeconfig="$KUBECONFIG" --root-dir="$N/kubelet/root" \
  --cert-dir="$N/kubelet/pki" --hostname-override="$NAME" --node-ip="$NODE_IP" --v=1 </dev/null >"$N/logs/kubelet.log" 2>&1 &
KUBELET_PID=$!
echo "KUBE_KUBELET_PID=$KUBELET_PID" >> "$W/pids"

DEADLINE=$(( $(date +%s) + ${MESH_NODE_TIMEOUT:-90} ))
until [ "$(kubectl --kubeconfig "$KUBECONFIG" get node "$NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
  for c in KUBE_CONTROLLER_MANAGER KUBE_SCHEDULER KUBE_PROXY; do
    p="$(sed -n "s/^${c}_PID=//p" "$W/pids" | tail -n1)"
    kill -0 "$p" 2>/dev/null || { n="$(echo "$c" | tr 'A-Z_' 'a-z-')"; log "$n exited; the last lines of $N/logs/$n.log:"; tail -n 5 "$N/logs/$n.log" >&2; exit 1; }
  done
  kill -0 "$KUBELET_PID" 2>/dev/null || { log "the kubelet exited; the last lines of $N/logs/kubelet.log:"; grep -E '^[EF]|error|failed' "$N/logs/kubelet.log" | tail -n 15 >&2; exit 1; }
  [ "$(date +%s)" -lt "$DEADLINE" ] || { log "node $NAME not Ready after ${MESH_NODE_TIMEOUT:-90}s; the kubelet's errors:"; grep -E '^[EF]' "$N/logs/kubelet.log" | tail -n 15 >&2; exit 1; }
  sleep 0.5
done
# The default ServiceAccount of new namespaces comes from the controller-manager now.
READY=1
log "ready: node $NAME (pods in $POD_CIDR on $BRIDGE; images imported in ${T_IMG}ms, total $(ms)ms); logs in $N/logs"
cat >> "$W/kube.env" <<ENV
KUBE_NODE_NAME=$NAME
KUBE_NODE_DIR=$N
KUBE_POD_CIDR=$POD_CIDR
KUBE_CONTAINERD_SOCK=$N/containerd/containerd.sock
ENV
echo "export KUBE_NODE_NAME=$NAME"
echo "export KUBE_NODE_DIR=$N"
echo "export KUBE_POD_CIDR=$POD_CIDR"
echo "export KUBE_CONTAINERD_SOCK=$N/containerd/containerd.sock"

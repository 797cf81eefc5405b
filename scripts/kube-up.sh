#!/usr/bin/env bash
# Start a throw-away control plane (etcd + kube-apiserver, no controllers, no
# kubelet) on loopback, for tests. Binaries come from scripts/ensure-k8s.sh.
#
#   eval "$(scripts/kube-up.sh)"      # exports KUBECONFIG, KUBE_WORK_DIR, ...
#   kubectl get ns
#   scripts/kube-down.sh              # uses $KUBE_WORK_DIR (or pass the dir)
#
# stdout: shell `export` lines only. Everything else goes to stderr.
# Also written: $KUBE_WORK_DIR/kube.env (same KEY=value lines) and
#               $KUBE_WORK_DIR/kube.json (same data as JSON).
#
# Env knobs:
#   MESH_KUBE_DIR          work dir to create (default: mktemp under /dev/shm)
#   MESH_KUBE_TIMEOUT      seconds to wait for /readyz (default 60)
#   MESH_KUBE_VERIFY=0     skip the kubectl smoke checks (get ns, create token)
#   MESH_KUBE_APISERVER_EXTRA_ARGS  extra kube-apiserver flags (word-split)
#   MESH_KUBE_KEEP_ON_FAIL=1  keep the work dir (logs) when start-up fails
#   MESH_CACHE_DIR         passed to ensure-k8s.sh
# The exact flags are documented in tools/k8s/BUILD-NOTES.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "kube-up: $*" >&2; }
T0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - T0) / 1000000 )); }

BINS="$("$HERE/ensure-k8s.sh")"   # K8S_VERSION, KUBE_APISERVER_BIN, ETCD_BIN
eval "$BINS"
T_BIN=$(ms)

SHM=/dev/shm; [ -d "$SHM" ] && [ -w "$SHM" ] || SHM="${TMPDIR:-/tmp}"
if [ -n "${MESH_KUBE_DIR:-}" ]; then W="$MESH_KUBE_DIR"; mkdir -p "$W"
else W="$(mktemp -d "$SHM/meshd-kube.XXXXXX")"; fi
W="$(cd "$W" && pwd)"
mkdir -p "$W/certs" "$W/etcd"
chmod 700 "$W" "$W/etcd"

ETCD_PID="" APISERVER_PID="" READY=0
cleanup_on_fail() {
  [ "$READY" = 1 ] && return
  log "failed; last lines of $W/kube-apiserver.log:"
  tail -n 25 "$W/kube-apiserver.log" >&2 2>/dev/null || true
  [ -n "$APISERVER_PID" ] && kill "$APISERVER_PID" 2>/dev/null || true
  [ -n "$ETCD_PID" ] && kill "$ETCD_PID" 2>/dev/null || true
  if [ "${MESH_KUBE_KEEP_ON_FAIL:-0}" != 1 ] && [ -z "${MESH_KUBE_DIR:-}" ]; then
    sleep 0.5; rm -rf "$W"; log "removed $W (set MESH_KUBE_KEEP_ON_FAIL=1 to keep it)"
  fi
}
trap cleanup_on_fail EXIT

# --- free loopback ports ---------------------------------------------------
# Probe random ports below the Linux ephemeral range; a port is "free" if no
# TCP listener answers on 127.0.0.1 and ss does not list it.
declare -A TAKEN=()
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    [ -n "${TAKEN[$p]:-}" ] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
        TAKEN[$p]=1; echo "$p"; return 0
      fi
    fi
  done
  log "no free port found"; return 1
}
ETCD_CLIENT_PORT=$(free_port)
ETCD_PEER_PORT=$(free_port)
APISERVER_PORT=$(free_port)

# --- credentials -------------------------------------------------------------
ADMIN_TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# token,user,uid,"group1,group2"
printf '%s,meshd-admin,meshd-admin,"system:masters"\n' "$ADMIN_TOKEN" > "$W/tokens.csv"
chmod 600 "$W/tokens.csv"

# Service-account signing key (private key also serves as the verification key).
if command -v openssl >/dev/null; then
  openssl genrsa -out "$W/sa.key" 2048 2>/dev/null
else
  node -e 'const c=require("crypto");const {privateKey}=c.generateKeyPairSync("rsa",{modulusLength:2048,privateKeyEncoding:{type:"pkcs8",format:"pem"},publicKeyEncoding:{type:"spki",format:"pem"}});require("fs").writeFileSync(process.argv[1],privateKey,{mode:0o600})' "$W/sa.key"
fi
chmod 600 "$W/sa.key"

ISSUER="https://kubernetes.default.svc.cluster.local"
ETCD_URL="http://127.0.0.1:$ETCD_CLIENT_PORT"
APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
CA_FILE="$W/certs/apiserver.crt"   # self-signed by kube-apiserver at start (leaf + its CA)

# --- etcd --------------------------------------------------------------------
# Plain `cmd &` in a non-interactive shell is not a process-group leader, so
# setsid execs in place and $! is the server's own pid.
setsid "$ETCD_BIN" \
  --name=meshd-test \
  --data-dir="$W/etcd" \
  --listen-client-urls="$ETCD_URL" \
  --advertise-client-urls="$ETCD_URL" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="meshd-test=http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster-state=new \
  --unsafe-no-fsync \
  --heartbeat-interval=10 \
  --election-timeout=100 \
  --log-level=warn \
  </dev/null >"$W/etcd.log" 2>&1 &
ETCD_PID=$!
echo "KUBE_ETCD_PID=$ETCD_PID" >> "$W/pids"


# --- kube-apiserver ----------------------------------------------------------
APISERVER_ARGS=(
  --etcd-servers="$ETCD_URL"
  --bind-address=127.0.0.1
  --advertise-address=127.0.0.1
  --secure-port="$APISERVER_PORT"
  --cert-dir="$W/certs"
  --token-auth-file="$W/tokens.csv"
  --authorization-mode=RBAC
  --service-account-issuer="$ISSUER"
  --service-account-key-file="$W/sa.key"
  --service-account-signing-key-file="$W/sa.key"
  --api-audiences="$ISSUER"
  --service-cluster-ip-range=10.96.0.0/16
  --allow-privileged=true
  --profiling=false
  --endpoint-reconciler-type=none
  --v=0
)
# shellcheck disable=SC2206
[ -n "${MESH_KUBE_APISERVER_EXTRA_ARGS:-}" ] && APISERVER_ARGS+=( ${MESH_KUBE_APISERVER_EXTRA_ARGS} )

setsid "$KUBE_APISERVER_BIN" "${APISERVER_ARGS[@]}" </dev/null >"$W/kube-apiserver.log" 2>&1 &
APISERVER_PID=$!
echo "KUBE_APISERVER_PID=$APISERVER_PID" >> "$W/pids"

# etcd and kube-apiserver start side by side (the apiserver retries its etcd
# connection); fail fast if etcd never becomes healthy.
for i in $(seq 1 150); do
  curl -fsS "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"' && break
  kill -0 "$ETCD_PID" 2>/dev/null || { log "etcd exited"; tail -n 20 "$W/etcd.log" >&2; exit 1; }
  [ "$i" = 150 ] && { log "etcd not healthy after 15s"; tail -n 20 "$W/etcd.log" >&2; exit 1; }
  sleep 0.1
done
T_ETCD=$(ms)

cat > "$W/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: meshd-test
  cluster:
    server: $APISERVER_URL
    certificate-authority: $CA_FILE
users:
- name: meshd-admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: meshd-test
  context:
    cluster: meshd-test
    user: meshd-admin
    namespace: default
current-context: meshd-test
KC
chmod 600 "$W/kubeconfig"

DEADLINE=$(( $(date +%s) + ${MESH_KUBE_TIMEOUT:-60} ))
until [ -s "$CA_FILE" ] && curl -fsS --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
        "$APISERVER_URL/readyz" >/dev/null 2>&1; do
  kill -0 "$APISERVER_PID" 2>/dev/null || { log "kube-apiserver exited"; exit 1; }
  [ "$(date +%s)" -lt "$DEADLINE" ] || {
    log "timed out waiting for /readyz"
    curl -sS --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" "$APISERVER_URL/readyz?verbose" >&2 || true
    exit 1; }
  sleep 0.1
done
T_READY=$(ms)

# No kube-controller-manager runs, so nothing creates the "default"
# ServiceAccount; create it so pods (ServiceAccount admission) and
# `kubectl create token default` work in the default namespace.
curl -fsS --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -X POST \
  -d '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}' \
  "$APISERVER_URL/api/v1/namespaces/default/serviceaccounts" >/dev/null 2>&1 || true

if [ "${MESH_KUBE_VERIFY:-1}" != 0 ] && command -v kubectl >/dev/null; then
  kubectl --kubeconfig "$W/kubeconfig" get ns >/dev/null
  kubectl --kubeconfig "$W/kubeconfig" -n default create token default --duration=10m >/dev/null
  log "verified: kubectl get ns, kubectl create token"
fi
T_DONE=$(ms)

cat > "$W/kube.env" <<ENV
KUBECONFIG=$W/kubeconfig
KUBE_WORK_DIR=$W
KUBE_APISERVER_URL=$APISERVER_URL
KUBE_ADMIN_TOKEN=$ADMIN_TOKEN
KUBE_CA_FILE=$CA_FILE
KUBE_ETCD_URL=$ETCD_URL
KUBE_APISERVER_PID=$APISERVER_PID
KUBE_ETCD_PID=$ETCD_PID
KUBE_VERSION=$K8S_VERSION
ENV
cat > "$W/kube.json" <<JSON
{
  "kubeconfig": "$W/kubeconfig",
  "workDir": "$W",
  "apiserverUrl": "$APISERVER_URL",
  "adminToken": "$ADMIN_TOKEN",
  "caFile": "$CA_FILE",
  "etcdUrl": "$ETCD_URL",
  "pids": { "kubeApiserver": $APISERVER_PID, "etcd": $ETCD_PID },
  "version": "$K8S_VERSION",
  "serviceAccountIssuer": "$ISSUER"
}
JSON
READY=1
log "ready: $APISERVER_URL (binaries ${T_BIN}ms, etcd ${T_ETCD}ms, apiserver /readyz ${T_READY}ms, total ${T_DONE}ms)"
log "state: $W/kube.env, $W/kube.json; stop with: $HERE/kube-down.sh $W"
sed 's/^/export /' "$W/kube.env"

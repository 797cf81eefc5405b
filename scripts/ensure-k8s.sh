#!/usr/bin/env bash
# Build (once) and print the paths of a real kube-apiserver and etcd, and of a
# node (kubelet) with kube-controller-manager and kube-scheduler, compiled from
# the Go module pinned in tools/k8s (see tools/k8s/BUILD-NOTES.md).
#
# Binaries are cached outside git, in a folder named after what they are built from:
#   ${MESH_CACHE_DIR:-$HOME/.cache/meshd}/k8s/<version>/<stamp>/bin/{kube-apiserver,etcd,kubelet,...}
# Idempotent: the stamp (hash of go.mod, go.sum, tools.go, cmd/) decides whether to rebuild;
# two worktrees with different pins each keep their own build (no rebuild ping-pong).
#
# Output on stdout (shell-evaluable, one per line):
#   K8S_VERSION=v1.35.4
#   KUBE_APISERVER_BIN=/.../kube-apiserver
#   ETCD_BIN=/.../etcd
#   KUBELET_BIN=/.../kubelet
#   KUBE_CONTROLLER_MANAGER_BIN=/.../kube-controller-manager
#   KUBE_SCHEDULER_BIN=/.../kube-scheduler
# Progress goes to stderr.
#
# Env knobs:
#   MESH_CACHE_DIR      cache root (default $HOME/.cache/meshd)
#   MESH_K8S_BUILD_P    go build -p (parallel compile jobs; default: go's default = nproc)
#   MESH_K8S_FORCE=1    rebuild even if the stamp matches
#   MESH_K8S_CHECK=1    never build: print the paths if the build is fresh, else exit 3
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD="$ROOT/tools/k8s"

K8S_VERSION="$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$MOD/go.mod")"
[ -n "$K8S_VERSION" ] || { echo "ensure-k8s: cannot read k8s.io/kubernetes version from $MOD/go.mod" >&2; exit 1; }

CACHE_ROOT="${MESH_CACHE_DIR:-${HOME:-/root}/.cache/meshd}"
stamp_of() {
  (cd "$MOD" && cat go.mod go.sum tools.go && find cmd -type f -name '*.go' | LC_ALL=C sort | xargs cat) | sha256sum | cut -d' ' -f1
}
WANT="$(stamp_of)"
OUT="$CACHE_ROOT/k8s/$K8S_VERSION/${WANT:0:12}"
BIN="$OUT/bin"
mkdir -p "$OUT"
NODE_BINS=(kubelet kube-controller-manager kube-scheduler kube-proxy)

emit() {
  echo "K8S_VERSION=$K8S_VERSION"
  echo "KUBE_APISERVER_BIN=$BIN/kube-apiserver"
  echo "ETCD_BIN=$BIN/etcd"
  echo "KUBELET_BIN=$BIN/kubelet"
  echo "KUBE_CONTROLLER_MANAGER_BIN=$BIN/kube-controller-manager"
  echo "KUBE_SCHEDULER_BIN=$BIN/kube-scheduler"
  echo "KUBE_PROXY_BIN=$BIN/kube-proxy"
}

is_fresh() {
  [ "${MESH_K8S_FORCE:-0}" != 1 ] &&
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] &&
  [ -x "$BIN/kubelet" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/kube-scheduler" ] && [ -x "$BIN/kube-proxy" ] &&
  [ "$(cat "$OUT/stamp" 2>/dev/null || true)" = "$WANT" ]
}

if is_fresh; then emit; exit 0; fi
if [ "${MESH_K8S_CHECK:-0}" = 1 ]; then
  echo "ensure-k8s: the Kubernetes binaries for this tools/k8s are not built yet (expected in $BIN): run bash scripts/ensure-k8s.sh (about 6 minutes cold)" >&2
  exit 3
fi

# Serialise concurrent builders (parallel test workers, two shells...).
exec 9>"$OUT/.lock"
flock 9
if is_fresh; then emit; exit 0; fi

command -v go >/dev/null || { echo "ensure-k8s: go toolchain not found (need Go >= 1.25)" >&2; exit 1; }

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
P_FLAG=()
[ -n "${MESH_K8S_BUILD_P:-}" ] && P_FLAG=(-p "$MESH_K8S_BUILD_P")

# Same version stamping as kubernetes' hack/lib/version.sh, so /version and
# `kubectl version` report the real release instead of v0.0.0-master.
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
VPKGS=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
LDX=""
for p in "${VPKGS[@]}"; do
  LDX+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  LDX+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

TMP="$(mktemp -d "$OUT/.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

TIMER=()
if [ -x /usr/bin/time ]; then TIMER=(/usr/bin/time -v -o); fi

build() { # name pkg
  local name="$1" pkg="$2" t0=$SECONDS
  echo "ensure-k8s: building $name ($pkg) ..." >&2
  if [ ${#TIMER[@]} -gt 0 ]; then
    (cd "$MOD" && "${TIMER[@]}" "$OUT/build-$name.time" \
      go build "${P_FLAG[@]}" -trimpath -ldflags="-s -w$LDX" -o "$TMP/$name" "$pkg")
    awk -F': ' '/Elapsed \(wall/ {w=$2} /Maximum resident/ {m=$2} END {printf "ensure-k8s: %s built: wall %s, peak RSS %.0f MiB\n", n, w, m/1024}' n="$name" "$OUT/build-$name.time" >&2
  else
    (cd "$MOD" && go build "${P_FLAG[@]}" -trimpath -ldflags="-s -w$LDX" -o "$TMP/$name" "$pkg")
    echo "ensure-k8s: $name built in $((SECONDS - t0))s" >&2
  fi
}

(cd "$MOD" && go mod download) >&2
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build etcd ./cmd/etcd
for b in "${NODE_BINS[@]}"; do build "$b" "k8s.io/kubernetes/cmd/$b"; done

mkdir -p "$BIN"
for b in kube-apiserver etcd "${NODE_BINS[@]}"; do mv -f "$TMP/$b" "$BIN/$b"; done
echo "$WANT" > "$OUT/stamp"
emit

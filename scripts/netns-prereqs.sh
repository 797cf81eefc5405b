#!/usr/bin/env bash
# What `npm run demo -- --transparent` and test/e2e/transparent.test.ts need besides root:
# iptables (installed from Debian's packages when missing) and the sidecar's user, uid 1337
# (meshd-proxy; setpriv works with the bare uid too, the name only makes `ps` readable).
# Idempotent; prints what it did. Creates nothing on the network.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "netns-prereqs: needs root (network namespaces and iptables)" >&2
  exit 1
fi
if ! command -v iptables >/dev/null || ! command -v iptables-restore >/dev/null; then
  echo "netns-prereqs: installing iptables" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq iptables >/dev/null
fi
for c in ip setpriv; do
  command -v "$c" >/dev/null || { echo "netns-prereqs: $c is missing (Debian: apt-get install iproute2 util-linux)" >&2; exit 1; }
done
if ! getent passwd 1337 >/dev/null; then
  getent group 1337 >/dev/null || groupadd --system --gid 1337 meshd-proxy
  useradd --system --uid 1337 --gid 1337 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin meshd-proxy 2>/dev/null
  echo "netns-prereqs: created user meshd-proxy (uid 1337, gid 1337)" >&2
fi
# The check the demo makes too: nat rules with the owner match inside a throwaway namespace.
probe="meshd-prereqs-$$"
ip netns add "$probe"
trap 'ip netns del "$probe" 2>/dev/null || true' EXIT
ip netns exec "$probe" iptables -t nat -A OUTPUT -p tcp -m owner --uid-owner 1337 -j RETURN
ip netns exec "$probe" iptables -t nat -L -n >/dev/null
echo "netns-prereqs: ok ($(iptables --version))"

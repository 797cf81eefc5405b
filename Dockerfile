# meshd, meshctl and the demo apps used by docker-compose.yml and deploy/: Node from Debian's
# packages, dependencies from the lockfile, compiled once. scripts/build-images.sh builds it
# on a Debian base made locally with debootstrap (BASE_IMAGE=meshd-base:...); without that
# argument the base is Debian's own image, and Node, npm and iptables come from its packages.
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE} AS base
RUN if ! command -v node >/dev/null || ! command -v npm >/dev/null || ! command -v iptables >/dev/null; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm iptables ca-certificates && \
      rm -rf /var/lib/apt/lists/*; fi && node -e 'if (+process.versions.node.split(".")[0] < 20) { console.error("Node " + process.version + " is too old: meshd needs 20"); process.exit(1) }'

FROM base AS build
# Certificates the build machine trusts beyond Debian's bundle (a TLS-intercepting proxy's CA),
# for npm only; scripts/build-images.sh passes them. The final image does not declare the arg.
ARG BUILD_CA_CERTS=
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are copied.
RUN if [ -n "$BUILD_CA_CERTS" ]; then printf '%s\n' "$BUILD_CA_CERTS" > /tmp/build-ca.pem; export NODE_EXTRA_CA_CERTS=/tmp/build-ca.pem; fi && \
    npm ci --ignore-scripts --no-audit --no-fund && rm -f /tmp/build-ca.pem
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM base
# npm was only needed to build; dpkg removes it without a network.
RUN DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --autoremove npm >/dev/null 2>&1 || true
WORKDIR /app
ENV NODE_ENV=production
# The same runtime settings as bin/meshd's shebang (the entrypoint below bypasses it): glibc
# returns freed memory sooner (RSS per connected proxy ~230 -> ~100 KB in `npm run bench -- xds`),
# and a larger young generation for the push path's short-lived buffers.
ENV MALLOC_TRIM_THRESHOLD_=131072 NODE_OPTIONS=--max-semi-space-size=32
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
COPY envoy-bootstrap ./envoy-bootstrap
# The dashboard's static files, served as they are from src/admin/dashboard.
COPY src/admin/dashboard ./src/admin/dashboard
COPY examples ./examples
# meshctl on PATH: the injected init, bootstrap and agent containers call it by name.
# User meshd is 1337, the uid the manifests and the injected sidecar run as.
RUN ln -s /app/bin/meshctl /usr/local/bin/meshctl && ln -s /app/bin/meshd /usr/local/bin/meshd && \
    groupadd -g 1337 meshd && useradd -u 1337 -g 1337 -d /var/lib/meshd -s /usr/sbin/nologin meshd && \
    mkdir -p /var/lib/meshd /var/run/meshd/tokens /etc/meshd && chown -R meshd:meshd /var/lib/meshd /var/run/meshd
USER meshd
EXPOSE 15010 15012 15014
ENTRYPOINT ["node", "bin/meshd"]
CMD ["--config-dir", "/etc/meshd/mesh", "--state-dir", "/var/lib/meshd", "--listen-address", "0.0.0.0"]

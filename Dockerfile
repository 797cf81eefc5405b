# meshd (and meshctl, and the demo app used by docker-compose.yml): Node 20, dependencies
# from the lockfile, compiled once. The sidecars use the official Envoy image instead.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
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
# State (the CA, the token signing key) and minted join tokens live in volumes owned by `node`.
RUN mkdir -p /var/lib/meshd /var/run/meshd/tokens /etc/meshd && chown -R node:node /var/lib/meshd /var/run/meshd
USER node
EXPOSE 15010 15012 15014
ENTRYPOINT ["node", "bin/meshd"]
CMD ["--config-dir", "/etc/meshd/mesh", "--state-dir", "/var/lib/meshd", "--listen-address", "0.0.0.0"]

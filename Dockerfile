# syntax=docker/dockerfile:1
#
# One image for every role of alp-connex and for linux/amd64 and linux/arm64:
# the role is the command (`iec104-server …`, `mqtt …`, `backend …`, see
# docker-compose.yml). Nothing is compiled in here: scripts/dist builds the
# static (musl) binary of each architecture outside and gathers what the
# image carries in dist/, and this file copies the binary of TARGETARCH:
#
#   scripts/dist
#   docker buildx build --platform linux/amd64,linux/arm64 -t alp-connex .
#
# No shell, no package manager, no libc: the binary, the CA certificates,
# the web UI's files and a passwd entry for the user it runs as.
FROM scratch

ARG TARGETARCH
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="alp-connex" \
      org.opencontainers.image.description="Protocol-translation platform for the power grid: IEC 60870-5-104 and MQTT into one Valkey process image" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="alp-connex"

# passwd and group with the one user (alp-connex, 10001), the CA
# certificates (TLS to the MQTT broker and to the OpenID provider).
COPY dist/etc/ /etc/
# The web UI's built files, served by the backend.
COPY dist/web/ /usr/share/alp-connex/web/
COPY dist/linux-${TARGETARCH}/alp-connex /usr/bin/alp-connex

# mimalloc (the static binary's allocator) gives freed memory back at once
# instead of after 10 ms: the resident set of a connector stays that of
# the glibc build (about 22 MiB with 100,000 points, not 32).
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    MIMALLOC_PURGE_DELAY=0

USER 10001:10001

# IEC 104 (iec104-server), the backend's HTTP, the connectors' metrics.
EXPOSE 2404 8080 9464

# The role of process 1 judged with its own settings: a connector's status
# key in Valkey, the backend's /readyz (`alp-connex healthcheck --help`).
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/usr/bin/alp-connex", "healthcheck"]

ENTRYPOINT ["/usr/bin/alp-connex"]
CMD ["--help"]

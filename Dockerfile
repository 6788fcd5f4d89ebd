# flagcache: a static binary on a distroless base, running as non-root.
#
#   docker build -t flagcache --build-arg VERSION=$(git describe --tags --always --dirty) \
#       --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -p 8080:8080 -e FLAGCACHE_TOKEN=$(openssl rand -hex 32) \
#       -v flagcache-data:/data flagcache
#
# Inside a container the daemon must listen on 0.0.0.0 to be reachable, and
# flagcache refuses a non-loopback address without auth: set FLAGCACHE_TOKEN
# (a write token) and/or FLAGCACHE_READ_TOKEN, or mount token files and name
# them in a config file (FLAGCACHE_CONFIG=/etc/flagcache/flagcache.toml).
# Without a token the container exits at once with a message saying so.
#
# Probes: GET /healthz (liveness) and GET /readyz (readiness), no token
# needed. The image has no shell or curl; HEALTHCHECK runs the binary.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Stamped into the binary as make build does (flagcache --version).
ARG VERSION="devel"
ARG COMMIT=""
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
        -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
        -o /out/flagcache ./cmd/flagcache \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flagcache /usr/local/bin/flagcache
# The embedded store's directory, owned by the nonroot user (65532).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV FLAGCACHE_SERVER_LISTEN=0.0.0.0:8080 \
    FLAGCACHE_SOURCE_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/flagcache", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/flagcache"]
CMD ["serve"]

# syntax=docker/dockerfile:1
#
# Multi-stage build of tencentcloud-ssl-exporter.
#   docker build -t tencentcloud-ssl-exporter .
#   docker run --rm -p 9877:9877 tencentcloud-ssl-exporter --demo
#   docker run --rm -p 9877:9877 -e TENCENTCLOUD_SECRET_ID -e TENCENTCLOUD_SECRET_KEY tencentcloud-ssl-exporter
# No secret is baked in: credentials come from the environment or mounted files at run time.

# Build stage: the same toolchain and the same release build command as CI (`.ci/run`).
FROM docker.io/library/rust:1.95-slim-bookworm AS build
# make: jemalloc (the exporter's allocator) is built from source; the image already has gcc.
# DL3008 (pin apt versions): the build stage's Debian version comes with the rust image tag, whose
# point releases replace package versions; a pin would break the build at the next one. Only the
# build stage installs it: the final image has no package manager.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not rebuild them: the manifests (the root one is the
# exporter's package and the workspace), the bench files they declare, and empty placeholder sources.
COPY Cargo.toml Cargo.lock ./
COPY benches benches
COPY crates/api/Cargo.toml crates/api/
COPY crates/api/benches crates/api/benches
COPY crates/simulator/Cargo.toml crates/simulator/
RUN for dir in src crates/api/src crates/simulator/src; do mkdir -p $dir && touch $dir/lib.rs; done \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > crates/simulator/src/main.rs \
    && cargo build --release --locked -p tencentcloud-ssl-exporter --bins \
    && rm -rf src crates/*/src
COPY src ./src
COPY crates ./crates
ARG GIT_REVISION=unknown
ENV GIT_REVISION=${GIT_REVISION}
# touch: make cargo see every real source as newer than the placeholder build.
RUN find src crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p tencentcloud-ssl-exporter --bins \
    && strip target/release/tencentcloud-ssl-exporter

# Final stage: glibc and nothing else (no shell, no package manager), non-root.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="tencentcloud-ssl-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Tencent Cloud SSL Certificate Service" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/tencentcloud-ssl-exporter /usr/local/bin/tencentcloud-ssl-exporter
USER 65532:65532
EXPOSE 9877
ENTRYPOINT ["/usr/local/bin/tencentcloud-ssl-exporter"]

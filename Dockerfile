# syntax=docker/dockerfile:1
#
# zsc in a container. Two images:
#   zsc      (the default, last stage): only the static binary and CA roots, on `scratch`;
#            runs as an unprivileged user (65532) in /work:
#            docker run --rm -u "$(id -u)" -v "$PWD:/work" IMAGE plan
#   ci       (`--target ci`): the same binary on Debian slim with git, curl and CA roots, for
#            CI jobs that run shell scripts around zsc (the GitLab example uses it).
#
# The binary is built from this source by default. The release workflow passes
# `--build-arg ZSC_BINARY=prebuilt` to take the binaries it has already built and checked
# (dist/docker/linux-$TARGETARCH/zsc) instead of compiling again under emulation.
#
#   docker build -t zsc .                  # from source, for the machine's platform
#   docker build --target ci -t zsc:ci .

ARG ZSC_BINARY=source

# ---- the binary, compiled: Alpine's Rust targets musl, so it is static.
FROM rust:1-alpine AS source
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# The release workflow's settings: the Cargo profile, debug info stripped.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
RUN cargo build --release --locked \
    && install -D -m 0755 target/release/zsc /out/zsc \
    && /out/zsc --version

# ---- the binary, as the release workflow built it for this platform.
FROM scratch AS prebuilt
ARG TARGETARCH
COPY dist/docker/linux-${TARGETARCH}/zsc /out/zsc

FROM ${ZSC_BINARY} AS binary

# ---- CA roots: zsc trusts the system's store (TLS-inspecting proxies add their root there).
FROM alpine:3 AS certs
RUN apk add --no-cache ca-certificates

# ---- for CI jobs with a shell.
FROM debian:bookworm-slim AS ci
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl git \
    && rm -rf /var/lib/apt/lists/*
COPY --from=binary /out/zsc /usr/local/bin/zsc
RUN zsc --version
CMD ["bash"]

# ---- the default image: the binary and CA roots, nothing else.
FROM scratch AS zsc
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /out/zsc /usr/local/bin/zsc
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PATH=/usr/local/bin
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/zsc"]
CMD ["--help"]

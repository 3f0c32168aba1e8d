# syntax=docker/dockerfile:1
# Portcullis container image: built with the same `cargo build --release --locked` that CI runs,
# shipped on distroless (glibc: aws-lc-rs links it dynamically), running as the non-root user.
#
#   docker build -t portcullis .
#   docker run --rm -p 4180:4180 -e PORTCULLIS_SERVER__LISTEN=0.0.0.0:4180 \
#     -v "$PWD/examples/quickstart:/etc/portcullis:ro" -v "$PWD/rules:/rules:ro" portcullis
#   (the quickstart config reads its rules from ../../rules/, that is /rules here)
#
# The Helm chart mounts its ConfigMap at /etc/portcullis and runs as UID 65532 (`nonroot`).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep crates and build artefacts between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin portcullis \
 && install -D -m 0755 target/release/portcullis /out/portcullis \
 && /out/portcullis --version

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="portcullis" \
      org.opencontainers.image.description="Forward-auth decision service for nginx, ingress-nginx, Traefik, Caddy and Envoy" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/portcullis /portcullis
USER 65532:65532
EXPOSE 4180
ENV PORTCULLIS_LOG_FORMAT=json
ENTRYPOINT ["/portcullis"]
CMD ["serve", "--config", "/etc/portcullis/portcullis.toml"]

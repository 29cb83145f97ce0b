# syntax=docker/dockerfile:1.7
# The release image: built from the repository root (.dockerignore keeps target/ and history out
# of the context), a static-enough binary on distroless's glibc base, running as non-root.
#   docker build -t llm-soak .
#   docker run --rm -p 9464:9464 -v "$PWD/llm-soak.toml:/etc/llm-soak/llm-soak.toml:ro" \
#     -e LLM_SOAK_API_KEY llm-soak
# The release workflow (.github/workflows/release.yml) builds it for linux/amd64 and linux/arm64
# and publishes it with provenance and an SBOM.

ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -m 0755 target/release/llm-soak /llm-soak

# glibc, libgcc, CA certificates and a non-root user (65532), nothing else: no shell, no package
# manager. NVML (GPU gauges) is loaded at run time when the NVIDIA container toolkit mounts it.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="llm-soak" \
      org.opencontainers.image.description="Soak tester and synthetic canary for OpenAI-compatible LLM APIs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/llm-soak/llm-soak"
COPY --from=build /llm-soak /usr/bin/llm-soak
COPY daemon/examples/llm-soak.toml /etc/llm-soak/llm-soak.toml
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/bin/llm-soak"]
CMD ["run", "-c", "/etc/llm-soak/llm-soak.toml"]

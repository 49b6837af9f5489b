# syntax=docker/dockerfile:1
#
# chime_exporter container image.
#   docker build -t chime-exporter .
#   docker run --rm -p 9891:9891 chime-exporter --demo
#
# Written against rust:1.94.1-slim-bookworm (the crate's rust-version) and
# gcr.io/distroless/cc-debian12:nonroot.

FROM rust:1.94.1-slim-bookworm AS builder
WORKDIR /build

# Dependencies first, in their own layer: editing src/ does not rebuild the
# AWS SDK. The stub sources only exist to let cargo build the dependencies.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > benches/exposition.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src target/release/.fingerprint/chime_exporter-* target/release/deps/chime_exporter-* target/release/deps/libchime_exporter-*

COPY src ./src
# No .git in the build context: pass the revision for chime_exporter_build_info.
ARG REVISION=unknown
ENV CHIME_EXPORTER_REVISION=${REVISION}
RUN cargo build --release --locked \
    && cp target/release/chime_exporter /chime_exporter

# distroless/cc has glibc, libgcc and CA certificates, and no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /chime_exporter /usr/local/bin/chime_exporter
USER 65532:65532
EXPOSE 9891
ENTRYPOINT ["/usr/local/bin/chime_exporter"]

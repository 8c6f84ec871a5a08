# syntax=docker/dockerfile:1
# The Tally image: `docker build -t ghcr.io/tally-dev/tally:0.1.0 .` from the repository root.
# A release build of the `tally` binary, run on distroless (glibc, CA certificates, no shell) as the
# unprivileged user 65532. TLS is rustls, so no OpenSSL is needed at run time.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the crate registry and the build directory between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tally \
    && install -D -m 0755 target/release/tally /out/tally

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/tally /usr/local/bin/tally
USER 65532:65532
# Writable by 65532: where `docker run` keeps the default SQLite file (mount a volume here to keep it).
# On Kubernetes the root filesystem is read-only and the database is PostgreSQL.
WORKDIR /home/nonroot
EXPOSE 50051
ENTRYPOINT ["tally"]
CMD ["serve", "--listen", "0.0.0.0:50051"]

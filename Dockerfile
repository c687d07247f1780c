# Build: docker build -t webrtc-workspaces-server .
# Run:   docker run -p 9090:9090 --env-file .env webrtc-workspaces-server
#        (mount a config with -v $PWD/config.js.toml:/app/config.js.toml:ro,
#         and a volume for json_storage_file, e.g. -v wrw-data:/app/data)
# See README "Container image". tests/clients/container/ builds this very file.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The shipped binary carries no debug info (Cargo.toml keeps line tables for
# local builds): one flag for both cargo runs below, so that the dependencies
# built in the first are reused by the second.
ENV CARGO_PROFILE_RELEASE_STRIP=true
# Dependencies first, against empty sources: this layer is rebuilt only when
# Cargo.toml or Cargo.lock change, not on every source change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' >src/main.rs && touch src/lib.rs \
 && cargo build --release --locked --bin webrtc-workspaces-server \
 && rm -rf src
COPY src ./src
# touch: the copied files may be older than the placeholder build's outputs.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin webrtc-workspaces-server

FROM debian:bookworm-slim
# No packages added: the binary is self-contained (rustls with webpki roots
# built in, for Twilio and rediss:// alike) and the health check is its own
# `healthcheck` subcommand, so neither curl nor ca-certificates is needed.
RUN useradd --system --home /app --shell /usr/sbin/nologin wrw \
 && mkdir -p /app/public /app/data && chown -R wrw /app
WORKDIR /app
COPY --from=build /src/target/release/webrtc-workspaces-server /usr/local/bin/webrtc-workspaces-server
USER wrw
ENV PORT=9090
EXPOSE 9090
# GET /health on the loopback, over HTTPS when ENABLE_HTTPS is set (the
# binary reads the same settings as the server it checks).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/webrtc-workspaces-server", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/webrtc-workspaces-server"]

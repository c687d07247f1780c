# Build: docker build -t webrtc-workspaces-server .
# Run:   docker run -p 9090:9090 --env-file .env webrtc-workspaces-server
#        (mount a config with -v $PWD/config.js.toml:/app/config.js.toml:ro,
#         and a volume for json_storage_file, e.g. -v wrw-data:/app/data)
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Stripped: the shipped binary carries no debug info (Cargo.toml keeps line tables for local builds).
RUN cargo build --release --locked --bin webrtc-workspaces-server --config profile.release.strip=true

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app --shell /usr/sbin/nologin wrw \
 && mkdir -p /app/public /app/data && chown -R wrw /app
WORKDIR /app
COPY --from=build /src/target/release/webrtc-workspaces-server /usr/local/bin/webrtc-workspaces-server
USER wrw
ENV PORT=9090
EXPOSE 9090
# Plain HTTP check; with ENABLE_HTTPS use https and -k.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/webrtc-workspaces-server"]

# syntax=docker/dockerfile:1
#
# The agent-gateway binary on a slim Debian, run as a non-root user.
#
#   docker build -t agent-gateway .
#   docker run --rm -p 127.0.0.1:8080:8080 -v gateway-data:/app/data agent-gateway
#
# Without GATEWAY_DATABASE_URL the container uses the embedded default, a SQLite file in
# /app/data, and prints a generated admin token once to stdout (that is, to `docker logs`).
# compose/docker-compose.yml runs it on Postgres instead.

# --- build ----------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace: sqlx::migrate! embeds migrations/ and include_str! embeds
# docs/openapi.json at compile time. .dockerignore keeps target/ and data/ out.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p agent-gateway \
 && install -D -m 0755 target/release/agent-gateway /out/agent-gateway

# --- runtime --------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin gateway \
 && mkdir -p /app/data \
 && chown 10001:10001 /app/data
COPY --from=build /out/agent-gateway /usr/local/bin/agent-gateway
WORKDIR /app
USER 10001:10001
ENV GATEWAY_BIND=0.0.0.0:8080
EXPOSE 8080
# SIGTERM (docker stop) drains: in-flight requests finish, the audit log is flushed.
ENTRYPOINT ["agent-gateway"]
CMD ["serve"]

# Multi-stage build: compile in the Rust image, run in a slim Debian image as a non-root user.
#   docker build -t strata .
#   docker run -p 5433:5433 -v strata-data:/var/lib/strata strata
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --bin strata && cp target/release/strata /usr/local/bin/strata

FROM debian:bookworm-slim
RUN useradd --system --uid 1500 --home-dir /var/lib/strata strata \
    && mkdir -p /var/lib/strata && chown strata /var/lib/strata
COPY --from=build /usr/local/bin/strata /usr/local/bin/strata
USER strata
VOLUME /var/lib/strata
EXPOSE 5433
# Inside a container the listener must be reachable from outside, so bind 0.0.0.0. Off
# loopback the default authentication is SCRAM-SHA-256 and the server refuses to start
# without a password for the superuser strata: docker run -e STRATA_PASSWORD=... (or mount
# a file and add --password-file FILE; --tls-cert/--tls-key enable TLS).
ENTRYPOINT ["strata", "serve", "--data-dir", "/var/lib/strata", "--pg-addr", "0.0.0.0:5433"]

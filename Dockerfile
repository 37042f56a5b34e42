# genesys-bridge and the Genesys simulator in one small image.
#
#   docker build -t genesys-bridge .
#   docker run --rm genesys-bridge check-config          # production profile: lists what is missing
#   docker compose up --build                            # the local demo (docker-compose.yml)
#
# The image runs `genesys-bridge serve` with the production profile from /etc/genesys-bridge.
# Give it the rest through the environment: BRIDGE__GENESYS__REGION, BRIDGE__GENESYS__CLIENT_ID,
# BRIDGE__GENESYS__CLIENT_SECRET_FILE=/run/secrets/..., a source (BRIDGE__SOURCES__NAME__...),
# BRIDGE__ADMIN__TOKEN_FILE. The store lives in the volume /var/lib/genesys-bridge.
# `docker stop` waits 10 s by default; the bridge may take server.shutdown_grace (30 s) to finish
# in-flight work, so run it with `--stop-timeout 35` (compose: stop_grace_period).
#
# Base images are Debian 13 (trixie) on both sides, so the binaries link against the glibc they
# were built with; distroless' Debian 12 images are no longer updated (since 2026-09).

# ---- build -----------------------------------------------------------------------------------
FROM rust:1.95.0-slim-trixie AS builder
WORKDIR /build

# Dependencies first, against stub targets: this layer is rebuilt only when Cargo.toml,
# Cargo.lock or a vendored crate (vendor/README.md) change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
COPY vendor ./vendor
RUN mkdir -p src/bin \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > src/bin/genesys-sim.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin genesys-bridge --bin genesys-sim \
    && rm -rf src

# The crate itself. COPY keeps the files' modification times, older than the stubs' build, so
# they are touched: otherwise cargo would keep the stub binaries.
COPY src ./src
COPY config ./config
RUN touch src/main.rs src/lib.rs src/bin/genesys-sim.rs \
    && cargo build --release --locked --bin genesys-bridge --bin genesys-sim \
    && mkdir -p /out/bin /out/var/lib/genesys-bridge \
    && cp target/release/genesys-bridge target/release/genesys-sim /out/bin/ \
    && chmod 0750 /out/var/lib/genesys-bridge

# ---- runtime ---------------------------------------------------------------------------------
# glibc, libgcc and ca-certificates (for Genesys' HTTPS), no shell, no package manager; the
# nonroot variant's user is 65532.
FROM gcr.io/distroless/cc-debian13:nonroot

LABEL org.opencontainers.image.title="genesys-bridge" \
      org.opencontainers.image.description="Puts CRM data into live Genesys Cloud CX conversations from signed webhooks" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /out/bin/ /usr/local/bin/
COPY config/ /etc/genesys-bridge/
# The store's directory, owned by the user that runs the bridge; a new named volume mounted here
# starts with that owner.
COPY --from=builder --chown=65532:65532 /out/var/lib/ /var/lib/

ENV BRIDGE_CONFIG_DIR=/etc/genesys-bridge \
    BRIDGE_ENV=production \
    BRIDGE__QUEUE__DATA_DIR=/var/lib/genesys-bridge

USER 65532:65532
VOLUME ["/var/lib/genesys-bridge"]
EXPOSE 8080

# No curl in the image: the bridge probes its own /health/ready (3 s timeout, exit 0 on 2xx).
# Listening on another port than 8080? Set BRIDGE_HEALTHCHECK_URL to match.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["genesys-bridge", "healthcheck"]

ENTRYPOINT ["genesys-bridge"]
CMD ["serve"]

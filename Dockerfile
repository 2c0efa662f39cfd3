# syntax=docker/dockerfile:1
#
# Karma's long-running service (`karma serve`, docs/deploy-service.md). Three stages on one pinned base:
#   build      npm ci + `node scripts/build.ts` → dist/ (the CLI bundle: dist/karma.js and its chunks)
#   deps       production dependencies only (dist/ keeps the AWS SDK, gremlin, isomorphic-git, ... external)
#   terraform  the terraform binary from HashiCorp's release zip, checked against a pinned sha256
# and the runtime: node, dist/, node_modules, the ASL file, terraform. No shell tools are needed at run time.
#
# Air-gapped or another Terraform: pass your own version and checksums (of the linux_<arch> zips), e.g.
#   docker build --build-arg TERRAFORM_VERSION=1.11.4 --build-arg TERRAFORM_SHA256_ARM64=<sha256> \
#     --build-arg TERRAFORM_RELEASES=https://mirror.internal/terraform .
# The default checksums are those HashiCorp publishes for 1.11.4 (terraform_1.11.4_SHA256SUMS).
# This image is NOT built in Karma's CI (no Docker there): test/unit/deploy/dockerfile.test.ts checks its rules.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here, and the `node` devDependency would
# download a second Node; the base image's Node 24 runs the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN node scripts/build.ts

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script (pure JavaScript: no native addon).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS terraform
ARG TARGETARCH
ARG TERRAFORM_VERSION=1.11.4
ARG TERRAFORM_SHA256_ARM64=a43d1d0da9b9bab214a8305a39db0e40869572594ccf50c416a7756499143633
ARG TERRAFORM_SHA256_AMD64=1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc
ARG TERRAFORM_RELEASES=https://releases.hashicorp.com/terraform
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl unzip \
 && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    arch="${TARGETARCH:-arm64}"; \
    case "$arch" in \
      arm64) sum="$TERRAFORM_SHA256_ARM64" ;; \
      amd64) sum="$TERRAFORM_SHA256_AMD64" ;; \
      *) echo "unsupported architecture $arch (arm64 or amd64)" >&2; exit 1 ;; \
    esac; \
    zip="terraform_${TERRAFORM_VERSION}_linux_${arch}.zip"; \
    curl -fsSL -o "/tmp/$zip" "$TERRAFORM_RELEASES/$TERRAFORM_VERSION/$zip"; \
    echo "$sum  /tmp/$zip" | sha256sum -c -; \
    unzip -q "/tmp/$zip" terraform -d /usr/local/bin; \
    rm "/tmp/$zip"; \
    /usr/local/bin/terraform version

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="karma" \
      org.opencontainers.image.description="Karma's long-running service: karma serve" \
      org.opencontainers.image.licenses="Apache-2.0"
# uid 10001: not root, and no uid the base image or a host is likely to use.
RUN groupadd --system --gid 10001 karma \
 && useradd --system --uid 10001 --gid karma --home-dir /home/karma --shell /usr/sbin/nologin karma \
 && mkdir -p /home/karma/.karma \
 && chown -R 10001:10001 /home/karma \
 && chmod 0700 /home/karma/.karma
WORKDIR /app
COPY --from=deps /app/package.json /app/package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
# dist/ is the whole bundle: karma.js, its chunks and source maps, and the built web UI (dist/web) when the
# build made one; copying the directory never depends on it being there.
COPY --from=build /src/dist ./dist
COPY --from=build /src/statemachines/pipeline.asl.json ./statemachines/pipeline.asl.json
COPY --from=terraform /usr/local/bin/terraform /usr/local/bin/terraform
# The slim base has no CA bundle (Node carries its own; Terraform, a Go binary, reads the system's to reach the
# provider registry): the terraform stage's, without a package manager run here.
COPY --from=terraform /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# The root filesystem may be read-only (ECS readonlyRootFilesystem): everything Karma and Terraform write goes
# to /tmp or to the work volume. Each VOLUME path is a containerPath of the task definition: ECS copies what the
# image has there (the directory made above for uid 10001) into the task's ephemeral storage.
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    HOME=/home/karma/.karma \
    TMPDIR=/tmp \
    KARMA_WORK_DIR=/home/karma/.karma/work \
    KARMA_HISTORY_DIR=/home/karma/.karma/history \
    KARMA_API_WORK_DIR=/home/karma/.karma/api \
    KARMA_SNAPSHOTS=/home/karma/.karma/snapshots \
    CHECKPOINT_DISABLE=1
VOLUME ["/tmp", "/home/karma/.karma"]

USER 10001:10001
WORKDIR /home/karma
EXPOSE 7070
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7070/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/karma.js"]
CMD ["serve", "--host", "0.0.0.0"]

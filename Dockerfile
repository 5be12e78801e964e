# tcp-echo container image.
#
#   docker build -t tcp-echo .
#   docker run --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
#     --stop-timeout 35 -p 7000:7000 -p 8080:8080 tcp-echo
#   docker run --rm tcp-echo probe tcp://echo.example:7000 --count 1000   # the probe client
#
# NODE_IMAGE picks the Node base for every stage: Node 26 (active LTS until 2029-04-30) on
# Debian 13 slim by default; node:24-trixie-slim is the other tested line (package.json
# engines). Override it to pin a digest or use a mirror.
ARG NODE_IMAGE=node:26-trixie-slim

# --- build: compile TypeScript with the full (dev) dependency set -------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: the only one is the devDependency `node` fetching a Node binary for
# `npm start`/`npm test`; this stage compiles with the image's own node.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
RUN npm run build

# --- deps: production dependencies only -------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- runtime: dist/, package.json and production node_modules, nothing else ---------
FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE_URL=https://github.com/example/tcp-echo
LABEL org.opencontainers.image.title="tcp-echo" \
      org.opencontainers.image.description="TCP echo service with a health and Prometheus metrics sidecar" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the service user: the app cannot modify itself,
# and nothing at run time writes to the filesystem, so a read-only root works.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 7000 8080
# node is PID 1 and handles SIGTERM itself (readiness 503, drain, exit 0); give it
# longer than SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS (default 25 s) to stop:
# `docker run --stop-timeout 35` / `docker stop -t 35` / compose stop_grace_period.
STOPSIGNAL SIGTERM
# /readyz, not /livez: Docker's health status is what compose `service_healthy` and
# Swarm's routing use to decide whether to send traffic, and /readyz is the one that
# is 200 only while the echo listener is accepting and no drain has begun. Node
# itself makes the request (slim images have no curl or wget); HTTP_PORT is honoured.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:process.env.HTTP_PORT||8080,path:'/readyz',timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]
# The entry point is the command line itself, in place of the base image's docker-entrypoint.sh
# (which would take `probe` for a program to run): `docker run <image>` runs the service,
# `docker run <image> --log-level debug` passes it flags, and `docker run <image> probe
# tcp://host:7000` runs the probe client (docs/probe.md). The HEALTHCHECK above runs its own command.
ENTRYPOINT ["node", "dist/main.js"]
CMD []

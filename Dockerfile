# syntax=docker/dockerfile:1
# darkroom's production image: compiled JavaScript and production dependencies on Node 24, run as
# a non-root user, with a read-only root filesystem in mind (nothing is written outside /tmp).
#
#   docker build -t darkroom:dev .

ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Compile TypeScript with the full (dev) dependency tree.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no install script is needed to compile, and none should run in the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Called through the image's node, not node_modules/.bin (where the `node` dev dependency lives).
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

# 2. Production dependencies only.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# 3. The runtime: no npm, no compiler, no sources.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# glibc malloc, tuned for libvips (sharp) in a long-running process: a fixed mmap threshold returns
# freed image buffers to the kernel instead of keeping them in the heap (glibc raises the threshold
# after each large free by default), and two arenas keep the libuv worker threads from each growing
# their own. Without them RSS stays at its peak after a burst of transforms (bench/variants.ts).
ENV MALLOC_MMAP_THRESHOLD_=131072
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
# npm and corepack are not needed at run time; removing them shrinks the image and its CVE surface.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
# package.json carries "type": "module", which Node needs to load dist/ as ES modules.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The base image's unprivileged "node" user, by number so that Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 8080 9090
# Exec form: node is PID 1 and receives SIGTERM itself (never `npm start`, which does not forward it);
# darkroom handles SIGTERM/SIGINT and has no child processes to reap.
ENTRYPOINT ["node", "dist/main.js"]

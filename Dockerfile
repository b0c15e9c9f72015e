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
# jemalloc instead of glibc's malloc (sharp itself limits libvips to one thread on glibc without
# jemalloc, "to help reduce memory fragmentation"): libvips makes many small allocations from
# several threads, which glibc's arenas keep after a burst of transforms (measured: RSS 36 % above
# idle 10 s after 16 concurrent 24 MP misses, the growth all in the main arena; 10 % with
# jemalloc, bench/variants.ts). A background thread returns freed pages to the kernel after a
# second (dirty_decay_ms), also when no request comes.
# The library's path depends on the architecture; the link gives LD_PRELOAD one path for all.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dpkg -L libjemalloc2 | grep '/libjemalloc\.so\.2$')" /usr/local/lib/libjemalloc.so.2
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2
ENV MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0
# A young generation of 16 MiB (V8 grows it to 64 MiB by default). V8 starts a full collection
# when the old generation's headroom falls below the young generation's size, and the buffers a
# variant miss reads count against that headroom: measured with bench/variants.ts, 0.13 full
# collections of the whole heap per miss with 64 MiB, 0.00 to 0.03 with 16 MiB.
ENV NODE_OPTIONS=--max-semi-space-size=8
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
# --heap-growing-percent=100: after each full collection the old generation may grow to twice its
# live size before the next one. V8 otherwise picks a factor near 1.1 when little is promoted (a
# miss allocates most of its bytes outside the JS heap) and, after an idle spell, grows the heap
# "slowly"; the headroom then stays below the young generation's size and V8 marks the whole
# ~50 MB heap again as soon as it has finished. Measured with bench/variants.ts: 0.14 to 0.18 full
# collections per miss and 10 ms of GC-thread CPU per miss without the flag, 0.00 and 1 ms with it.
# V8 does not accept the flag in NODE_OPTIONS, hence here.
ENTRYPOINT ["node", "--heap-growing-percent=100", "dist/main.js"]

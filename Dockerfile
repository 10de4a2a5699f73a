# One image for api, worker and relay (the compose file picks the entry point).
FROM node:24-bookworm-slim
# The local runner needs the interpreters it offers, bubblewrap (its sandbox) and setpriv and
# prlimit (util-linux). node is the image's own; bash comes with the base image. jemalloc rather than
# glibc's malloc: glibc keeps the high-water mark of the API's native memory (its RSS after a GC grew 16 %
# from 1,000 to 5,000 executions, its V8 heap flat; jemalloc: 2 %; README, Performance). Linked at a path of
# its own so that the line holds on every architecture; preloaded only after the build (below).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 bubblewrap util-linux ca-certificates libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2" /usr/local/lib/libjemalloc.so.2
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The build compiles the workflow threads' watchdog addon (workflow-threads/) against the image's Node headers;
# the compiler leaves with the same layer.
RUN apt-get update && apt-get install -y --no-install-recommends g++ \
 && npx prisma generate && npm run build \
 && test -f dist/native/isolate-watchdog-abi*.node \
 && apt-get purge -y g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2
# api and relay run as node; the worker runs as root (compose), to give each run its cgroup and
# start bwrap as nobody.
USER node
CMD ["node", "dist/api/server.js"]

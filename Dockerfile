# One image for api, worker and relay (the compose file picks the entry point).
FROM node:24-bookworm-slim
# The local runner needs the interpreters it offers, bubblewrap (its sandbox) and setpriv and
# prlimit (util-linux). node is the image's own; bash comes with the base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 bubblewrap util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/*
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
# api and relay run as node; the worker runs as root (compose), to give each run its cgroup and
# start bwrap as nobody.
USER node
CMD ["node", "dist/api/server.js"]

# One image for api, worker and relay (the compose file picks the entry point).
FROM node:24-bookworm-slim
# The local runner needs the interpreters it offers, prlimit (util-linux) and GNU time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 util-linux time ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx prisma generate && npm run build
USER node
CMD ["node", "dist/api/server.js"]

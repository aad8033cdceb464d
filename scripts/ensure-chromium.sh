#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is installed at /usr/bin/chromium, for the live
# page's browser test (test/ui.test.ts drives it with puppeteer-core). Idempotent: it only
# installs what is missing, and needs root only then.
#   bash scripts/ensure-chromium.sh
set -euo pipefail

say() { echo "ensure-chromium: $*" >&2; }

if [ -x /usr/bin/chromium ]; then
  say "chromium is at /usr/bin/chromium"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "needs root to install chromium: rerun as root (sudo bash scripts/ensure-chromium.sh)"
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || { say "no apt-get here: install chromium by hand"; exit 1; }
say "installing chromium"
apt-get update -q
# Fonts: without any, every glyph of the page's screenshot is a box.
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
[ -x /usr/bin/chromium ] || { say "chromium installed but /usr/bin/chromium is missing"; exit 1; }
say "chromium is at /usr/bin/chromium"

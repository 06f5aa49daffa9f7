#!/usr/bin/env bash
# Render a web summary in headless Chromium, offline, and save a PNG to look at.
# Usage: scripts/screenshot_report.sh outs/web_summary_cell_types.html report.png
# Needs Debian's chromium (apt-get install chromium). Network features are switched off,
# so anything the page tried to fetch would simply be missing from the picture.
set -euo pipefail
html=$(realpath "$1")
png=${2:-report.png}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1280,2200 --screenshot="$png" "file://$html" 2>/dev/null
echo "wrote $png"

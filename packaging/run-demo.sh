#!/usr/bin/env bash
# Runs AttriScope's main job on the embedded demo data: the GUI where a display exists,
# otherwise the same pipeline headless through attriscope-cli. Expects the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release/app
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$BIN/attriscope" ]; then
  exec "$BIN/attriscope" --demo
fi
OUT="${ATTRI_DEMO_OUT:-$PWD/attriscope-demo}"
echo "run-demo: no display found; running the demo headless into $OUT"
exec "$BIN/attriscope-cli" demo --out "$OUT"

#!/usr/bin/env bash
# Debian packages the tests use as independent referees and drivers:
#   chromium (browser tests), oathtool (TOTP codes), zbar-tools (QR decoding),
#   librsvg2-bin (renders the QR SVG to pixels), docker-compose (parses docker-compose.yml),
#   redis-server (only if no Redis is installed).
# Installs only what is missing, so a prepared machine pays nothing.
set -euo pipefail

declare -A needs=(
  [chromium]=chromium [oathtool]=oathtool [zbarimg]=zbar-tools
  [rsvg-convert]=librsvg2-bin [docker-compose]=docker-compose [redis-server]=redis-server
)
# Without recommends, so pull chromium's fonts explicitly: screenshots need real glyphs.
extras=(fonts-liberation)
missing=()
for command in "${!needs[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${needs[$command]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
for attempt in 1 2 3; do  # mirrors hiccup; try again before failing the build
  if $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" "${extras[@]}" >/dev/null; then
    exit 0
  fi
  echo "apt-get failed (attempt $attempt); retrying" >&2
  sleep $((attempt * 10))
done
exit 1

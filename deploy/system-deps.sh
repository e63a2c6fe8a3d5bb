#!/usr/bin/env bash
# Debian packages the stack and the tests need, by the command each provides:
#   redis-server (make run starts one when no Redis answers), and for the tests, as
#   independent referees and drivers: chromium (browser tests), oathtool (TOTP codes),
#   zbar-tools (QR decoding), librsvg2-bin (renders the QR SVG to pixels), and npm
#   (installs the pinned Redocly CLI that lints docs/openapi.json).
# (docker-compose.yml is parsed by compose-go, built with Go: deploy/compose.py.)
# With command names as arguments, only those; without, all of them.
# Installs only what is missing, so a prepared machine pays nothing.
set -euo pipefail

declare -A needs=(
  [chromium]=chromium [oathtool]=oathtool [zbarimg]=zbar-tools
  [rsvg-convert]=librsvg2-bin [redis-server]=redis-server [npm]=npm
)
# Without recommends, so pull chromium's fonts explicitly: screenshots need real glyphs.
declare -A extras=([chromium]=fonts-liberation)
commands=("$@")
[ ${#commands[@]} -eq 0 ] && commands=("${!needs[@]}")
missing=()
for command in "${commands[@]}"; do
  command -v "$command" >/dev/null 2>&1 && continue
  missing+=("${needs[$command]}")
  [ -n "${extras[$command]:-}" ] && missing+=("${extras[$command]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
for attempt in 1 2 3; do  # mirrors hiccup; try again before failing the build
  if $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "apt-get failed (attempt $attempt); retrying" >&2
  sleep $((attempt * 10))
done
exit 1

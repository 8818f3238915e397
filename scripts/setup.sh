#!/usr/bin/env bash
# Installs everything tilecraft needs on a fresh machine: the npm dependencies (which also builds
# the library and the optional CUDA addon); when Node finds no WebGPU adapter, Mesa's software
# Vulkan driver (lavapipe, Mesa 25 or newer: older Mesa is too old for Dawn); and Chromium, which
# the browser test drives, when it is missing.
#
# The software driver is installed with apt from Debian bookworm-backports, reusing the mirror the
# machine's own Debian apt sources already name. That needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/tilecraft-runtime}"
mkdir -p "$XDG_RUNTIME_DIR"

echo "setup: installing npm dependencies"
npm ci --no-audit --no-fund

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

install_chromium() {
  command -v chromium >/dev/null && return 0
  echo "setup: installing Chromium (the browser test runs tilecraft in it)"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
}

if node scripts/probe-webgpu.mjs 2>/dev/null; then
  install_chromium
  exit 0
fi

echo "setup: no WebGPU adapter; installing Mesa's software Vulkan driver (lavapipe) from bookworm-backports"
if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
  echo "setup: need root to install mesa-vulkan-drivers; rerun as root or see the README" >&2
  exit 1
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "setup: automatic driver installation supports Debian bookworm; on ${PRETTY_NAME:-this system} install Mesa >= 25 (mesa-vulkan-drivers) and libvulkan1 yourself" >&2
  exit 1
fi
# reuse the URI of the machine's Debian source (deb822 or one-line format)
uri=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  u=$(awk '/^URIs:/ {print $2; exit}' "$f")
  if [ -n "$u" ] && grep -q 'Suites:.*bookworm' "$f" && ! echo "$u" | grep -q security; then uri=$u; break; fi
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
fi
if [ -z "$uri" ]; then
  echo "setup: found no Debian bookworm apt source to take a mirror from" >&2
  exit 1
fi
$SUDO tee /etc/apt/sources.list.d/tilecraft-bookworm-backports.sources >/dev/null <<SOURCES
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers libvulkan1

if ! node scripts/probe-webgpu.mjs; then
  echo "setup: still no WebGPU adapter after installing lavapipe" >&2
  exit 1
fi
install_chromium

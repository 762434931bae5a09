#!/usr/bin/env bash
# Install Debian's Chromium (/usr/bin/chromium) and the fonts the browser tests need, if missing.
# Only distribution packages: never a downloaded browser build (no `playwright install`).
# Needs root (CI runs as root); idempotent; says what it did.
set -euo pipefail

# A monospace face for the terminal and a CJK fallback (customer names, subjects).
packages=(chromium fonts-dejavu-core fonts-liberation fonts-droid-fallback)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ -x /usr/bin/chromium ] && [ ${#missing[@]} -eq 0 ]; then
    echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium: missing, and this is not a Debian-family system (no apt-get);" \
         "install your distribution's chromium so that /usr/bin/chromium exists" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium: needs ${missing[*]}; installing them needs root: sudo $0" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]:-chromium}" >/dev/null
echo "chromium: installed ${missing[*]:-chromium}; $(/usr/bin/chromium --version 2>/dev/null || true)"

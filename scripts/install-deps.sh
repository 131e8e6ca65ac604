#!/usr/bin/env bash
# Installs what Echo needs from Debian, skipping what is already there.
#   scripts/install-deps.sh            build and run: C libraries, redis-server, openssl (make bench makes its TLS certificate with it)
#   scripts/install-deps.sh --test     also what the tests need: chromium, python3-venv
set -euo pipefail

packages=(libhiredis-dev libssl-dev libsystemd-dev zlib1g-dev pkg-config redis-server openssl)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(chromium python3-venv unicode-data iproute2 util-linux systemd fonts-noto-color-emoji openssl)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "Installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "swift is not on PATH: install the Swift 6 toolchain (swift.org) first." >&2
  exit 1
fi

#!/usr/bin/env bash
# Installs pagoda's build dependencies from Debian's archive (as root, when missing) and
# builds pagoda in ./build. Safe to run again: it only does what is not done.
set -euo pipefail
cd "$(dirname "$0")"

pkgs=(gcc meson ninja-build pkg-config python3 liburing-dev libseccomp-dev libsodium-dev libfdt-dev device-tree-compiler)
missing=()
# With the arm64 cross build's -dev packages installed too (Multi-Arch: same), a bare name
# is ambiguous to dpkg -s: ask for this machine's architecture then.
native=$(dpkg --print-architecture)
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || dpkg -s "$p:$native" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: missing packages ${missing[*]}: run as root or apt-get install them" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
  }
fi
[ -f build/build.ninja ] || meson setup build -Dwerror=true >/dev/null
ninja -C build >/dev/null
echo "setup.sh: built build/pagoda" >&2

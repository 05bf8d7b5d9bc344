#!/usr/bin/env bash
# Prepares and runs the arm64 cross build in ./build-arm64 (as root, from Debian's archive):
# the cross compiler, liburing, libseccomp and libsodium for arm64 through multiarch, and libfdt for
# arm64 unpacked into a sysroot of its own: Debian's libfdt-dev is not co-installable
# across architectures, and the x86 build's FDT tests need the amd64 one.
#   cross/setup-arm64.sh        (then: build-arm64/pagoda, static, for any arm64 Linux)
set -euo pipefail
cd "$(dirname "$0")/.."
sysroot=${PAGODA_ARM64_SYSROOT:-/var/cache/pagoda/arm64-sysroot}

dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update >/dev/null 2>&1; }
pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross liburing-dev:arm64 libseccomp-dev:arm64 libsodium-dev:arm64)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-arm64: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
  }
fi
if [ ! -f "$sysroot/usr/lib/aarch64-linux-gnu/libfdt.a" ]; then
  d=$(mktemp -d)
  (cd "$d" && apt-get download libfdt-dev:arm64 >/dev/null 2>&1) || { echo "setup-arm64: apt-get download libfdt-dev:arm64 failed" >&2; exit 1; }
  mkdir -p "$sysroot"
  dpkg-deb -x "$d"/libfdt-dev_*.deb "$sysroot"
  rm -rf "$d"
fi
if [ ! -f build-arm64/build.ninja ]; then
  meson setup build-arm64 --cross-file cross/arm64.txt -Dwerror=true -Dfdt_sysroot="$sysroot" >/dev/null
fi
ninja -C build-arm64 >/dev/null
echo "setup-arm64: built build-arm64/pagoda" >&2

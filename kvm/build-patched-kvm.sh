#!/usr/bin/env bash
# Builds pagoda's patched KVM (kvm/patches/*.patch) for a lab's kernel, from Debian's
# linux-source of exactly that kernel's version and the configuration of its
# linux-headers package:
# - x86 (…-amd64): only arch/x86/kvm is compiled, with the headers' .config and
#   Module.symvers, so kvm.ko and kvm-amd.ko load into the lab's stock kernel.
# - arm64 (…-arm64): Debian's arm64 kernels have KVM built in (CONFIG_KVM=y is the only
#   choice there), so the whole kernel is built (cross-compiled, an Image): without
#   debug info or module signing, and with the few modules the lab loads (tun, veth,
#   virtio_blk) built in, since it boots without Debian's modules; and with page idle
#   tracking, which no Debian kernel has, so that the working set's fallback method
#   (mem/wss_page_idle.c) has a kernel to be tested on. 25-40 minutes here.
# Both also build kvm/selftests/access_log_test against the patched tree's selftests
# library (the lab runs it; static on arm64, whose lab has no aarch64 libc).
# Prints the directory that holds kvm.ko, kvm-amd.ko and access_log_test, or Image and
# access_log_test.
#
#   kvm/build-patched-kvm.sh RELEASE     (e.g. 6.12.117+deb12-cloud-amd64, …-cloud-arm64)
#
# Cache: ${PAGODA_KVM_CACHE:-/var/cache/pagoda/patched-kvm}/RELEASE-HASH, where HASH
# covers the patches and this script: a second run only prints the path. Exit status 2
# when a package cannot be fetched (the caller may skip, saying why), 1 on any other
# failure.
set -Eeuo pipefail

die() { echo "build-patched-kvm: $1" >&2; exit "${2:-1}"; }
# Exit 2 means "cannot be fetched" (a skip): any other failure, make's own exit 2 among
# them, must be 1 (a failure), never a skip.
trap 'die "failed ($?): $BASH_COMMAND"' ERR
# The kernel's host tools need the host's assembler: a cross build's environment (meson
# test in build-arm64) puts aarch64's `as` first in PATH.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
[ $# -eq 1 ] || die "usage: build-patched-kvm.sh RELEASE (the lab kernel's uname -r)"
release=$1
case "$release" in
  *-amd64) darch=amd64 products=(kvm.ko kvm-amd.ko access_log_test);;
  *-arm64) darch=arm64 products=(Image access_log_test);;
  *) die "RELEASE must be an x86 (…-amd64) or arm64 (…-arm64) lab kernel's";;
esac
here=$(cd "$(dirname "$0")" && pwd)
# The series without its cover letter (0000, text only: no build depends on it).
patches=(); for p in "$here"/patches/*.patch; do [ "${p##*/}" = 0000-cover-letter.patch ] || patches+=("$p"); done
hash=$(cat "${patches[@]}" "$here"/selftests/*.c "$0" | sha256sum | cut -c1-12)
cache=${PAGODA_KVM_CACHE:-/var/cache/pagoda/patched-kvm}
out=$cache/$release-$hash
built() { for f in "${products[@]}"; do [ -f "$out/$f" ] || return 1; done; }
if built; then echo "$out"; exit 0; fi
mkdir -p "$cache"

# The exact Debian version of the lab kernel, and the source package of that version.
version=$(apt-cache show "linux-image-$release-unsigned:$darch" 2>/dev/null | sed -n "s/^Version: //p" | head -1 || true)
[ -n "$version" ] || die "no package linux-image-$release-unsigned in the package lists" 2
series=${release%%.*}.$(echo "$release" | cut -d. -f2)          # 6.12
need=(flex bison bc libelf-dev libssl-dev dwarves gcc-12 xz-utils)
[ $darch = arm64 ] && need+=(gcc-12-aarch64-linux-gnu)
missing=(); for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-patched-kvm: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
    die "could not install ${missing[*]} with apt-get" 2
fi

dl=$(mktemp -d "$cache/dl.XXXX"); trap 'rm -rf "$dl"' EXIT
echo "build-patched-kvm: fetching linux-source-$series $version and its headers" >&2
( cd "$dl" && apt-get download "linux-source-$series=$version" "linux-headers-$release:$darch=$version" >/dev/null 2>&1 ) ||
  die "apt-get download linux-source-$series=$version / linux-headers-$release failed" 2
for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$dl/root"; done
headers=$dl/root/usr/src/linux-headers-$release
[ -f "$headers/.config" ] && [ -f "$headers/Module.symvers" ] || die "linux-headers-$release has no .config/Module.symvers"
[ "$(grep -c '^CONFIG_KVM=[ym]' "$headers/.config")" = 1 ] || die "linux-headers-$release: its kernel has no KVM"

tree=$dl/src
mkdir -p "$tree"
echo "build-patched-kvm: unpacking the source (1.5 GB)" >&2
tar -xJf "$dl/root/usr/src/linux-source-$series.tar.xz" -C "$tree" --strip-components=1
for p in "${patches[@]}"; do
  patch -s -p1 -d "$tree" < "$p" || die "$(basename "$p") does not apply to linux-source-$series $version"
done
build_x86() {
  cp "$headers/.config" "$headers/Module.symvers" "$tree/"
  # Debian's compiler by its full name, and no Rust (a rustc in PATH would show in the
  # configuration's version fields although the kernel has no Rust).
  mk=(make -s -C "$tree" -j"$(nproc)" CC=x86_64-linux-gnu-gcc-12 RUSTC=false KERNELRELEASE="$release")
  "${mk[@]}" olddefconfig
  # The modules must see the kernel's own layout (struct module, config-dependent fields):
  # a configuration that drifted (another compiler, no pahole) would build modules that
  # load and then corrupt the kernel, so any difference stops the build, but for the
  # symbol the patches add (HAVE_KVM_ACCESS_LOG: it changes only what kvm.ko holds).
  if ! diff <(grep -v '^#' "$headers/.config" | sort) \
       <(grep -v -e '^#' -e '^CONFIG_HAVE_KVM_ACCESS_LOG=y$' "$tree/.config" | sort) >&2; then
    die "the lab kernel's configuration changed under olddefconfig (above): the toolchain differs from Debian's"
  fi
  echo "build-patched-kvm: building arch/x86/kvm ($(nproc) jobs)" >&2
  "${mk[@]}" modules_prepare
  "${mk[@]}" M=arch/x86/kvm modules
  magic=$(modinfo -F vermagic "$tree/arch/x86/kvm/kvm.ko")
  case "$magic" in "$release "*) ;; *) die "kvm.ko was built for '$magic', not $release";; esac
  mkdir -p "$out.tmp"
  # Without debug info (22 MB to ~2 MB): they ride in the lab's initramfs.
  for m in kvm kvm-amd; do strip --strip-debug -o "$out.tmp/$m.ko" "$tree/arch/x86/kvm/$m.ko"; done
  build_selftest CC=x86_64-linux-gnu-gcc-12 TEST_GEN_PROGS_x86_64=access_log_test
}

# The selftest, on the patched tree's KVM selftests library and UAPI headers: only it is
# built (TEST_GEN_PROGS_<arch> names it alone).
#   build_selftest MAKE-VARIABLES...
build_selftest() {
  echo "build-patched-kvm: building kvm/selftests/access_log_test" >&2
  "${mk[@]}" headers
  cp "$here/selftests/access_log_test.c" "$tree/tools/testing/selftests/kvm/"
  make -s -C "$tree/tools/testing/selftests/kvm" -j"$(nproc)" "$@"
  cp "$tree/tools/testing/selftests/kvm/access_log_test" "$out.tmp/"
}

# The whole arm64 kernel: Debian's configuration with what a lab boot without Debian's
# modules needs, and without what this build cannot or need not do (debug info and BTF:
# most of the time and pahole; module signing: Debian's keys are not in the source, and
# something selects MODULE_SIG again, so its key is the one the build makes itself).
build_arm64() {
  local mk=(make -s -C "$tree" -j"$(nproc)" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CC=aarch64-linux-gnu-gcc-12
            RUSTC=false KERNELRELEASE="$release")
  cp "$headers/.config" "$tree/"
  "$tree/scripts/config" --file "$tree/.config" --disable DEBUG_INFO_BTF --disable DEBUG_INFO_DWARF5 \
    --disable DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT --disable DEBUG_INFO_DWARF4 --enable DEBUG_INFO_NONE \
    --disable MODULE_SIG --disable MODULE_SIG_ALL --set-str MODULE_SIG_KEY certs/signing_key.pem \
    --set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
    --enable TUN --enable VETH --enable VIRTIO_BLK --enable IDLE_PAGE_TRACKING
  "${mk[@]}" olddefconfig
  for c in KVM TUN VETH VIRTIO_BLK IDLE_PAGE_TRACKING; do
    grep -q "^CONFIG_$c=y" "$tree/.config" || die "CONFIG_$c=y did not hold under olddefconfig"
  done
  echo "build-patched-kvm: building the arm64 kernel ($(nproc) jobs; 25-40 minutes here)" >&2
  "${mk[@]}" Image
  mkdir -p "$out.tmp"
  cp "$tree/arch/arm64/boot/Image" "$out.tmp/"
  build_selftest ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CC=aarch64-linux-gnu-gcc-12 \
    TEST_GEN_PROGS_aarch64=access_log_test LDFLAGS="-static -pthread"
}

"build_$([ $darch = amd64 ] && echo x86 || echo arm64)"
rm -rf "$out"; mv "$out.tmp" "$out"
# Older builds (other patches) are of no further use.
find "$cache" -mindepth 1 -maxdepth 1 -name "$release-*" ! -name "$release-$hash" -exec rm -rf {} +
echo "$out"

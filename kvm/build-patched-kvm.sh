#!/usr/bin/env bash
# Builds pagoda's patched KVM modules (kvm/patches/*.patch) for the x86 lab's kernel:
# Debian's linux-source of exactly the lab kernel's version, configured with the .config
# and Module.symvers of its linux-headers package, so the modules load into the lab's
# stock kernel. Only arch/x86/kvm is compiled (kvm.ko, kvm-amd.ko). Prints the directory
# that holds the two modules.
#
#   kvm/build-patched-kvm.sh RELEASE     (e.g. 6.12.117+deb12-cloud-amd64)
#
# Cache: ${PAGODA_KVM_CACHE:-/var/cache/pagoda/patched-kvm}/RELEASE-HASH, where HASH
# covers the patches and this script: a second run only prints the path. Exit status 2
# when a package cannot be fetched (the caller may skip, saying why), 1 on any other
# failure. arm64 is not built: Debian's arm64 kernels have KVM built in (CONFIG_KVM=y
# is the only choice there), so a patched arm64 KVM means a whole kernel.
set -euo pipefail

die() { echo "build-patched-kvm: $1" >&2; exit "${2:-1}"; }
[ $# -eq 1 ] || die "usage: build-patched-kvm.sh RELEASE (the lab kernel's uname -r)"
release=$1
case "$release" in *-amd64) ;; *) die "only x86 (…-amd64) lab kernels: arm64 has KVM built in";; esac
here=$(cd "$(dirname "$0")" && pwd)
hash=$(cat "$here"/patches/*.patch "$0" | sha256sum | cut -c1-12)
cache=${PAGODA_KVM_CACHE:-/var/cache/pagoda/patched-kvm}
out=$cache/$release-$hash
if [ -f "$out/kvm.ko" ] && [ -f "$out/kvm-amd.ko" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"

# The exact Debian version of the lab kernel, and the source package of that version.
version=$(apt-cache show "linux-image-$release-unsigned" 2>/dev/null | sed -n "s/^Version: //p" | head -1 || true)
[ -n "$version" ] || die "no package linux-image-$release-unsigned in the package lists" 2
series=${release%%.*}.$(echo "$release" | cut -d. -f2)          # 6.12
need=(flex bison bc libelf-dev libssl-dev dwarves gcc-12 xz-utils)
missing=(); for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-patched-kvm: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
    die "could not install ${missing[*]} with apt-get" 2
fi

dl=$(mktemp -d "$cache/dl.XXXX"); trap 'rm -rf "$dl"' EXIT
echo "build-patched-kvm: fetching linux-source-$series $version and its headers" >&2
( cd "$dl" && apt-get download "linux-source-$series=$version" "linux-headers-$release=$version" >/dev/null 2>&1 ) ||
  die "apt-get download linux-source-$series=$version / linux-headers-$release failed" 2
for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$dl/root"; done
headers=$dl/root/usr/src/linux-headers-$release
[ -f "$headers/.config" ] && [ -f "$headers/Module.symvers" ] || die "linux-headers-$release has no .config/Module.symvers"

tree=$dl/src
mkdir -p "$tree"
echo "build-patched-kvm: unpacking the source (1.5 GB)" >&2
tar -xJf "$dl/root/usr/src/linux-source-$series.tar.xz" -C "$tree" --strip-components=1
for p in "$here"/patches/*.patch; do
  patch -s -p1 -d "$tree" < "$p" || die "$(basename "$p") does not apply to linux-source-$series $version"
done
cp "$headers/.config" "$headers/Module.symvers" "$tree/"
# Debian's compiler by its full name, and no Rust (a rustc in PATH would show in the
# configuration's version fields although the kernel has no Rust).
mk=(make -s -C "$tree" -j"$(nproc)" CC=x86_64-linux-gnu-gcc-12 RUSTC=false KERNELRELEASE="$release")
"${mk[@]}" olddefconfig
# The modules must see the kernel's own layout (struct module, config-dependent fields):
# a configuration that drifted (another compiler, no pahole) would build modules that
# load and then corrupt the kernel, so any difference stops the build.
if ! diff <(grep -v '^#' "$headers/.config" | sort) <(grep -v '^#' "$tree/.config" | sort) >&2; then
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
rm -rf "$out"; mv "$out.tmp" "$out"
# Older builds (other patches) are of no further use.
find "$cache" -mindepth 1 -maxdepth 1 -name "$release-*" ! -name "$release-$hash" -exec rm -rf {} +
echo "$out"

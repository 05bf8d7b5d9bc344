#!/usr/bin/env bash
# Builds the Linux boot suite's guest kernel from Debian's linux-source-6.1 package into a
# cache outside the repository, and prints the directory holding bzImage and vmlinux.
# The cache key is the source version plus this script and the config fragment, so a
# second run with nothing changed reuses the build (seconds instead of minutes).
#   build-kernel.sh            -> prints e.g. /var/cache/pagoda/kernel/<key>
# Needs root for apt-get on a fresh machine; PAGODA_CACHE moves the cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${PAGODA_CACHE:-/var/cache/pagoda}
log() { echo "build-kernel: $*" >&2; }

need_pkgs=()
for p in linux-source-6.1 gcc make flex bison bc libelf-dev libssl-dev xz-utils cpio; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}" >&2 ||
    { log "apt-get install failed: run 'apt-get update' and retry"; exit 1; }
fi
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1)
key=$(cat "$here/kernel.config" "$0" | sha256sum | cut -c1-12)
out="$cache/kernel/6.1-$srcver-$key"
if [ -f "$out/bzImage" ] && [ -f "$out/vmlinux" ]; then echo "$out"; exit 0; fi

src="$cache/kernel/src-$srcver"
if [ ! -f "$src/Makefile" ]; then
  log "unpacking linux-source-$srcver"
  rm -rf "$src.tmp"; mkdir -p "$src.tmp"
  tar -C "$src.tmp" --strip-components=1 -xaf /usr/src/linux-source-6.1.tar.xz
  mv "$src.tmp" "$src"
fi
bld="$cache/kernel/build-$key"
mkdir -p "$bld"
log "configuring in $bld"
make -C "$src" O="$bld" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$bld" "$bld/.config" "$here/kernel.config" >/dev/null
make -C "$src" O="$bld" olddefconfig >/dev/null
# merge_config only warns when an option did not stick; a silent miss would make the
# boot tests fail for a reason far from here, so check the ones that matter.
for opt in CONFIG_SERIAL_8250_CONSOLE CONFIG_ACPI CONFIG_PCI CONFIG_PVH CONFIG_SMP CONFIG_BLK_DEV_INITRD CONFIG_VIRTIO_MMIO \
           CONFIG_VIRTIO_PCI CONFIG_PCI_MSI CONFIG_PCI_MMCONFIG CONFIG_9P_FS CONFIG_NET_9P_VIRTIO CONFIG_OVERLAY_FS CONFIG_X86_IOPL_IOPERM; do
  grep -q "^$opt=y" "$bld/.config" || { log "$opt did not stick in the kernel config"; exit 1; }
done
log "building (takes minutes on 2 cores; later runs use the cache)"
t0=$(date +%s)
make -C "$src" O="$bld" -j"$(nproc)" bzImage vmlinux >"$bld/build.log" 2>&1 ||
  { tail -30 "$bld/build.log" >&2; log "kernel build failed, log: $bld/build.log"; exit 1; }
log "built in $(( $(date +%s) - t0 )) s"
mkdir -p "$out.tmp"
cp "$bld/arch/x86/boot/bzImage" "$bld/vmlinux" "$bld/.config" "$out.tmp/"
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out"

#!/usr/bin/env bash
# The suite's initramfs with kernel modules of the Debian arm64 kernel (the arm64 lab's own)
# appended, for init to load (/modules, in /modules/order): that kernel builds virtio-mmio
# and the virtio drivers as modules. Linux unpacks concatenated cpio archives in turn.
#   arm64-initramfs.sh INITRAMFS OUT MODULE...   (MODULE: a path below kernel/, no .ko.xz)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
initramfs=$1 out=$2
shift 2
kernel=$("$here/../lab/lab.sh" arm64 --kernel-path)
mods=$(ls -d "$(dirname "$kernel")"/../lib/modules/*/kernel)
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/modules"
for m in "$@"; do
  xz -dc "$mods/$m.ko.xz" > "$w/modules/$(basename "$m").ko"
  basename "$m.ko" >> "$w/modules/order"
done
(cd "$w" && find . | cpio -o -H newc 2>/dev/null) | cat "$initramfs" - > "$out"

#!/usr/bin/env bash
# A distribution guest: Debian bookworm from Debian's archive (tests/linux/build-debian-guest.sh,
# cached) boots in the x86 lab with its own kernel and initramfs, systemd, a virtio-blk
# root and virtio-net over virtio-pci (tests/linux/debian-lab.sh runs there): it reaches
# the login prompt, root logs in on the console, it has an address from DHCP, and it
# powers off cleanly (pagoda exits 0).
# Exit 77 (a skip that says why) when the archive cannot be reached to make the image.
#   debian-test.sh PAGODA GUEST_TEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 guest_test=$2
set +e
d=$("$here/build-debian-guest.sh")
st=$?
set -e
[ $st = 2 ] && { echo "debian-test: no Debian image (its packages cannot be fetched here, above): skipped"; exit 77; }
[ $st = 0 ] || exit $st
exec python3 "$guest_test" "$here/../lab/lab.sh" --wall 1500 --exit 0 \
  --expect='Debian GNU/Linux 12 pagoda-debian ttyS0' --expect='pagoda-debian login:' \
  --expect='root@pagoda-debian' --expect='address: .*inet 10\.0\.2\.1[5-9]/24' \
  --expect='reboot: Power down' --expect='pagoda exit: 0' --expect='login prompt after [0-9.]+ s' \
  --expect='virtio-blk vda .*transport=pci' --expect='virtio-net tap0 .*transport=pci' -- \
  x86 --timeout 1200 --drive "$d/rootfs.img" --add "$pagoda" --add "$d/vmlinuz:/vmlinuz" \
  --add "$d/initrd.img:/initrd.img" --add "$here/debian-lab.sh:/bin/debian-lab.sh" -- sh /bin/debian-lab.sh

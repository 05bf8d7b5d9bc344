#!/bin/sh
# Inside the x86 lab (busybox): shares a directory holding from-host.txt with the Linux
# guest, which uses it (init's "fs" action); then what the guest wrote, as the host sees
# it; then the same directory read-only ("fs-ro"), which the guest must not change.
share=/tmp/share
mkdir -p $share && echo "hello from the host" > $share/from-host.txt
pagoda run -k /kernel -i /initramfs.cpio -m 256M --timeout 300 --stats --fs $share -p "-- fs"
echo "pagoda exit: $?"
echo "host sees moved.txt: $(cat $share/gdir/moved.txt) mode $(stat -c %a $share/gdir/moved.txt)"
echo "host sees link: $(readlink $share/link)"
echo "host sees doomed.txt: $([ -e $share/doomed.txt ] && echo present || echo absent)"
echo "host sees big.bin: $(stat -c %s $share/big.bin) bytes"
snap() { find $share | sort | xargs stat -c '%n %s %a %Y' | sha256sum; }
before=$(snap)
pagoda run -k /kernel -i /initramfs.cpio -m 256M --timeout 300 --fs $share,ro -p "-- fs-ro"
echo "pagoda ro exit: $?"
after=$(snap)
[ "$before" = "$after" ] && echo "host sees the read-only share unchanged" || echo "the read-only share CHANGED"

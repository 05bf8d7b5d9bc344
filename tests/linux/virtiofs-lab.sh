#!/bin/sh
# Inside the x86 lab (busybox): pagoda exec boots Debian's cloud kernel, whose virtio_pci,
# virtiofs and overlay are modules: pagoda finds them by the kernel's name
# (/boot/vmlinuz-VERSION -> /lib/modules/VERSION) and its init loads them before it mounts
# the lab's root over virtio-fs. Then a directory shared over virtio-fs, read-write (the
# guest part of this script, "guest" mode, uses it with busybox's tools) and read-only.
share=/tmp/share
if [ "${1:-}" = guest ]; then
  mkdir -p /tmp/data && mount -t virtiofs data /tmp/data || { echo "fs mount failed"; exit 10; }
  fail=0; check() { [ "$1" = 0 ] || { echo "fs check failed: $2"; fail=1; }; }
  if [ "${2:-}" = ro ]; then
    (echo x > /tmp/data/new.txt) 2>/dev/null; check $((! $?)) "create on a read-only share"
    [ -e /tmp/data/new.txt ]; check $((! $?)) "a file appeared"
    rm /tmp/data/from-host.txt 2>/dev/null; check $((! $?)) "remove on a read-only share"
    [ $fail = 0 ] && echo "fs create on a read-only share refused: ok" && echo "fs ro checks: all passed"
    exit $fail
  fi
  echo "fs host file says: $(cat /tmp/data/from-host.txt)"
  # a file system mounted below the share on the host: an empty directory here
  [ -d /tmp/data/mp ] && [ -z "$(ls -A /tmp/data/mp)" ] && ! [ -e /tmp/data/mp/hidden ]; check $? "mount point shown empty"
  ! mkdir /tmp/data/mp/planted 2>/dev/null; check $? "mkdir in a mount point refused"
  cd /tmp/data || exit 11
  echo written > new.txt; check $? "create"
  mkdir gdir; check $? "mkdir"
  mv new.txt gdir/moved.txt; check $? "rename"
  chmod 600 gdir/moved.txt; check $? "chmod"
  ln -s gdir/moved.txt link; check $? "symlink"
  ln gdir/moved.txt hard; check $? "hard link"
  [ "$(cat hard)" = written ]; check $? "read through the hard link"
  echo doomed > doomed.txt && rm doomed.txt; check $? "remove"
  mkdir empty && rmdir empty; check $? "rmdir"
  [ "$(readlink link)" = gdir/moved.txt ]; check $? "readlink"
  mkfifo fifo && [ -p fifo ] && rm fifo; check $? "mkfifo"
  touch -d '2001-02-03 04:05:06' from-host.txt && [ "$(date -r from-host.txt +%Y)" = 2001 ]; check $? "touch -d"
  df /tmp/data > /dev/null; check $? "statfs"
  echo sync > synced && dd if=synced of=synced2 conv=fsync 2>/dev/null && rm synced synced2; check $? "fsync"
  dd if=/dev/urandom of=big.bin bs=1M count=3 2>/dev/null; check $? "dd"
  sum=$(md5sum big.bin | cut -d' ' -f1)
  cd / && umount /tmp/data && mount -t virtiofs data /tmp/data; check $? "remount"
  [ "$(md5sum /tmp/data/big.bin | cut -d' ' -f1)" = "$sum" ]; check $? "big file read back"
  [ $fail = 0 ] && echo "fs big file written and read back: ok" && echo "$sum" > /tmp/data/big.md5
  [ "$(ls /tmp/data | tr '\n' ' ')" = "big.bin big.md5 from-host.txt gdir hard link mp " ]; check $? "listing: $(ls /tmp/data | tr '\n' ' ')"
  [ $fail = 0 ] && echo "fs checks: all passed"
  exit $fail
fi
kernel=$(ls /boot/vmlinuz-*)
# a file system mounted below the shared root: an empty directory to the guest
mkdir -p /srv/mp && mount -t tmpfs none /srv/mp && echo "not for the guest" > /srv/mp/hidden
cd /bin
pagoda exec -k "$kernel" --stats -- sh -c 'echo "exec: hello from $(uname -r) in $(pwd)"; echo scratch > /bin/pagoda-scratch && cat /bin/pagoda-scratch; [ -r /proc/self/stat ] && [ -d /sys/kernel ] && echo "exec has its own /proc and /sys"; echo t > /tmp/t && echo "exec has its own /tmp"; [ -d /srv/mp ] && [ -z "$(ls -A /srv/mp)" ] && echo "exec sees /srv/mp empty"; exit 7'
echo "exec status: $?"
echo "host sees scratch: $([ -e /bin/pagoda-scratch ] && echo present || echo absent)"
pagoda exec -k "$kernel" -- /no/such/command
echo "exec missing status: $?"
mkdir -p $share/mp && echo "hello from the host" > $share/from-host.txt
mount -t tmpfs none $share/mp && echo "not for the guest" > $share/mp/hidden
pagoda exec -k "$kernel" --rw --stats --fs $share,proto=virtiofs,tag=data -- sh /bin/virtiofs-lab.sh guest
echo "pagoda exit: $?"
echo "host sees moved.txt: $(cat $share/gdir/moved.txt) mode $(stat -c %a $share/gdir/moved.txt) links $(stat -c %h $share/gdir/moved.txt)"
echo "host sees link: $(readlink $share/link)"
echo "host sees doomed.txt: $([ -e $share/doomed.txt ] && echo present || echo absent)"
echo "host sees below the mount point: $(ls $share/mp | tr '\n' ' ')"
echo "host sees big.bin: $(stat -c %s $share/big.bin) bytes, $([ "$(md5sum $share/big.bin | cut -d' ' -f1)" = "$(cat $share/big.md5)" ] && echo "as the guest wrote it" || echo "NOT as the guest wrote it")"
snap() { find $share | sort | xargs stat -c '%n %s %a %Y' | md5sum; }
before=$(snap)
pagoda exec -k "$kernel" --fs $share,proto=virtiofs,tag=data,ro -- sh /bin/virtiofs-lab.sh guest ro
echo "pagoda ro exit: $?"
[ "$before" = "$(snap)" ] && echo "host sees the read-only share unchanged" || echo "the read-only share CHANGED"

#!/usr/bin/env bash
# pagoda exec in the x86 lab (tests/linux/exec-lab.sh runs there): the lab's own root as
# the guest's, the command's output streamed, its status returned (7, 127, 137, 0), its
# writes kept in the overlay unless --rw, its own /proc, /sys and /tmp over the lab's (the
# mount points below the share are empty directories to it), and the time from boot to the
# command printed (the test kernel has no virtio-fs: its root is over 9p); --junit's
# report of a command printing KTAP results.
#   exec-test.sh PAGODA GUEST_TEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 guest_test=$2
kernel=$("$here/build-kernel.sh")/bzImage
exec python3 "$guest_test" "$here/../lab/lab.sh" --wall 1200 --exit 0 \
  --expect='exec: hello from Linux in /bin' --expect='^scratch' --expect='^exec has its own /proc and /sys' --expect='^exec has its own /tmp' --expect='^exec sees /srv/mp empty' \
  --expect='pagoda-init: command starts [0-9]+ ms after boot \(root over 9p\)' \
  --expect='exec status: 7$' --expect='host sees scratch: absent' \
  --expect='mounting the shared root \(tag pagoda-root: does the kernel have virtio-fs or 9p\?\)' \
  --expect='exec virtiofs-only status: 125$' \
  --expect='pagoda-init: /no/such/command: No such file or directory' --expect='exec missing status: 127$' \
  --expect='exec killed status: 137$' --expect='exec rw status: 0$' \
  --expect='exec junit status: 3$' --expect='junit suite: tests="4" failures="2" skipped="1"$' \
  --expect='junit cases: <testcase classname="pagoda exec" name="sh -c printf .*<testcase classname="ktap" name="first" <testcase classname="ktap" name="second" <testcase classname="ktap" name="third"' \
  --expect='junit failure: <failure message="not ok"># expected 1, got 2$' \
  --expect='host sees rw-proof: written through --rw' -- \
  x86 --timeout 900 --add "$pagoda" --add "$kernel:/kernel" --add "$here/exec-lab.sh:/bin/exec-lab.sh" \
  -- sh /bin/exec-lab.sh

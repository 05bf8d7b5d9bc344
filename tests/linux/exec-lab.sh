#!/bin/sh
# Inside the x86 lab (busybox): pagoda exec on the lab's own root. A command's output
# and status come back; what it writes stays in the guest's overlay; a missing command
# is 127, a killed one 128+9; --junit reports the run and its KTAP results; with --rw
# the write reaches the host.
# a file system mounted below the shared root: an empty directory to the guest
mkdir -p /srv/mp && mount -t tmpfs none /srv/mp && echo "not for the guest" > /srv/mp/hidden
cd /bin
pagoda exec -k /kernel --stats -- sh -c 'echo "exec: hello from $(uname -s) in $(pwd)"; echo scratch > /bin/pagoda-scratch && cat /bin/pagoda-scratch; [ -r /proc/self/stat ] && [ -d /sys/kernel ] && echo "exec has its own /proc and /sys"; echo t > /tmp/t && echo "exec has its own /tmp"; [ -d /srv/mp ] && [ -z "$(ls -A /srv/mp)" ] && echo "exec sees /srv/mp empty"; exit 7'
echo "exec status: $?"
echo "host sees scratch: $([ -e /bin/pagoda-scratch ] && echo present || echo absent)"
pagoda exec -k /kernel --root-fs virtiofs -- true
echo "exec virtiofs-only status: $?"
pagoda exec -k /kernel -- /no/such/command
echo "exec missing status: $?"
pagoda exec -k /kernel -- sh -c 'kill -9 $$'
echo "exec killed status: $?"
pagoda exec -k /kernel --junit /tmp/j.xml -- sh -c 'printf "KTAP version 1\n1..3\nok 1 first\n# expected 1, got 2\nnot ok 2 second\nok 3 third # SKIP not here\n"; exit 3'
echo "exec junit status: $?"
echo "junit suite: $(grep -o 'tests="[0-9]*" failures="[0-9]*" skipped="[0-9]*"' /tmp/j.xml)"
echo "junit cases: $(grep -o '<testcase classname="[^"]*" name="[^"]*"' /tmp/j.xml | tr '\n' ' ')"
echo "junit failure: $(grep -o '<failure message="not ok"># expected 1, got 2' /tmp/j.xml)"
pagoda exec -k /kernel --rw -- sh -c 'echo "written through --rw" > /rw-proof'
echo "exec rw status: $?"
echo "host sees rw-proof: $(cat /rw-proof 2>&1)"

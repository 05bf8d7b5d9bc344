#!/bin/busybox sh
# Runs inside a shared lab (tests/lab/lab.sh with PAGODA_LAB_SHARED): takes jobs from the
# virtio-serial port named pagoda.jobs, one at a time, and runs each as lab.sh runs the
# command of a lab of its own: its files unpacked over /, in /tmp, its output on the
# console between the job's BEGIN and EXIT markers (each carries the job's nonce, so
# nothing a job prints can fake another's status). A job is
#   JOB NONCE TIMEOUT BYTES\n  then BYTES of tar: root/ (files for /) and command.sh
# Between jobs the lab is put back as it booted: the job's processes killed, what it
# mounted unmounted, /tmp emptied, the 2 MiB hugetlb pool reset.
#   lab_runner.sh LAB_NONCE
lab_nonce=$1
port=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = pagoda.jobs ] && port=/dev/${p##*/}
done
[ -n "$port" ] || { echo "@@PAGODA-LAB-BROKEN $lab_nonce no virtio-serial port named pagoda.jobs"; exit 1; }
exec 4<&0 # the console, for the jobs' stdin
pool=$(cat /proc/sys/vm/nr_hugepages)
awk '{print $2}' /proc/mounts > /run-base.mounts

# Puts back what a job may have changed (its processes first: they may hold mounts).
reset_lab() { # job's pid (its process group)
  kill -9 -- "-$1" 2>/dev/null
  for m in $(awk '{print $2}' /proc/mounts | grep -vxF -f /run-base.mounts | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  cd /
  rm -rf /tmp/* /tmp/.[!.]* /job 2>/dev/null
  echo "$pool" > /proc/sys/vm/nr_hugepages
}

run_job() { # nonce timeout
  mkdir -p /job/root
  tar -xf /tmp/job.tar -C /job && rm -f /tmp/job.tar
  cp -af /job/root/. / 2>/dev/null # -f: a file still open elsewhere is replaced, not kept
  echo "@@PAGODA-LAB-BEGIN $1"
  cd /tmp
  # stdin the console, as a lab of its own gives its command: an asynchronous list would
  # get /dev/null, and pagoda says a normal exit's reason only on a terminal.
  setsid sh /job/command.sh <&4 &
  pid=$!
  # The job's time limit: its whole process group goes, and 124 is its status.
  # (Ended early, the watchdog takes its sleep with it.)
  ( trap 'kill $s 2>/dev/null; exit' TERM
    sleep "$2" & s=$!
    wait $s && [ -d "/proc/$pid" ] && : > /job/timed-out && kill -9 -- "-$pid" "$pid" 2>/dev/null ) &
  watchdog=$!
  wait "$pid"
  status=$?
  kill "$watchdog" 2>/dev/null
  [ -f /job/timed-out ] && status=124
  reset_lab "$pid"
  echo
  echo "@@PAGODA-LAB-EXIT $1 $status"
}

echo "@@PAGODA-LAB-READY $lab_nonce"
# The host side connects per job; while nobody is connected a read ends at once. The
# port stays open between jobs: opening it discards what it holds (virtio_console), so
# closing it after a read found nobody and reopening it lost a job whose host connected
# in between (its header and first bytes gone: the runner never began it, one CI run
# waited 17 minutes). It is closed only while a job runs, which must not inherit it.
exec 3<"$port"
while :; do
  if IFS=' ' read -r kw nonce timeout bytes <&3 && [ "$kw" = JOB ]; then
    head -c "$bytes" <&3 > /tmp/job.tar
    exec 3<&-
    run_job "$nonce" "$timeout"
    exec 3<"$port"
  else
    sleep 0.2
  fi
done

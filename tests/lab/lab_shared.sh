# Sourced by tests/lab/lab.sh when PAGODA_LAB_SHARED names a directory (test.sh sets it):
# tests that need the same lab share one lab boot instead of booting their own. The
# first one boots it (QEMU in a session of its own, so it outlives that test, its
# console in a file, a virtio-serial port for jobs); each then hands its files and
# command over as a job (tests/lab/lab_job.py) and gets the same output and status a lab
# of its own would give. tests/lab/lab_runner.sh runs the jobs inside, one at a time, and
# puts the lab back between them. Only labs alike share: a --drive lab is always its own,
# --patched-kvm has a shared lab of its own, and a lab asking more memory, other kernel
# arguments than the shared one has or KVM module parameters is booted for itself.
# Faults are handled as for a lab of its own: a crashed or silently ended lab is booted
# once more for the job (said, and logged in PAGODA_LAB_RETRY_LOG), and so is a lab that
# stopped answering (no status even after its runner's own kill at the job's limit: its
# kernel is stuck, or a process cannot die); a job out of time (the runner's kill) gets
# 124. A job's --timeout is its command's time in the lab (the boot is not counted); a
# shared lab lives at most 3 hours. lab.sh --stop-shared ends every shared lab under
# PAGODA_LAB_SHARED.

# The shared labs' size: what the largest tests ask (the working set's 1 GiB pages).
if [ "$arch" = x86 ]; then shared_mem=6144 shared_append="hugepagesz=1G hugepages=2"
else shared_mem=4096 shared_append=""; fi
pdir=$PAGODA_LAB_SHARED/$arch
[ "$patched_kvm" = 0 ] || pdir=$pdir-patched

lab_shareable() {
  [ -z "$drive" ] && [ -z "$kvm_params" ] && [ "$mem" -le "$shared_mem" ] || return 1
  case "$append" in
    "" | "$shared_append") return 0;;
    "hugepagesz=1G hugepages=1") [ "$arch" = x86 ];;
    *) return 1;;
  esac
}

shared_pid() { cat "$pdir/qemu.pid" 2>/dev/null; }
shared_alive() { local p; p=$(shared_pid) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# Ends the shared lab: its whole session (the shell that waits for QEMU, timeout, QEMU).
stop_shared() {
  local p; p=$(shared_pid) || return 0
  [ -n "$p" ] || return 0
  pkill -TERM -s "$p" 2>/dev/null || true
  for _ in $(seq 50); do pgrep -s "$p" >/dev/null || break; sleep 0.1; done
  pkill -KILL -s "$p" 2>/dev/null || true
  rm -f "$pdir/qemu.pid"
}

# Boots the shared lab and waits for its runner's word (10 minutes at most: arm64 under
# TCG with the host busy). 0 when it takes jobs; else the reason on stdout.
boot_shared() {
  local nonce; nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
  rm -f "$pdir/console.log" "$pdir/jobs.sock" "$pdir/qemu.exit" "$pdir/qemu.pid"
  cp "$here/lab_runner.sh" "$r/lab_runner.sh"
  { write_init_prologue; echo "exec sh /lab_runner.sh $nonce"; } > "$r/init"
  chmod +x "$r/init"
  (cd "$r" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$pdir/initrd.gz"
  : > "$pdir/console.log"
  # The lock's descriptor (8) stays here: the lab must not hold the lock after this job.
  # --foreground: timeout stays in the lab's process group, so that stop_shared's signal
  # to the group reaches QEMU.
  QEMU_EXIT=$pdir/qemu.exit setsid sh -c 'timeout --foreground 10800 "$@"; echo $? > "$QEMU_EXIT"' sh \
    "${qemu[@]}" -smp "${LAB_SMP:-2}" -m "$shared_mem" -display none -monitor none -no-reboot \
    -serial "file:$pdir/console.log" -kernel "$kernel" -initrd "$pdir/initrd.gz" \
    -append "console=$console panic=-1 quiet loglevel=3 $shared_append" \
    -device virtio-serial -chardev "socket,id=jobs,path=$pdir/jobs.sock,server=on,wait=off" \
    -device virtserialport,chardev=jobs,name=pagoda.jobs \
    </dev/null >"$pdir/qemu.err" 2>&1 8>&- &
  echo $! > "$pdir/qemu.pid"
  local t0=$SECONDS
  while [ $((SECONDS - t0)) -lt 600 ]; do
    grep -q "^@@PAGODA-LAB-READY $nonce" "$pdir/console.log" && return 0
    local broken; broken=$(sed -n "s/^@@PAGODA-LAB-BROKEN $nonce //p" "$pdir/console.log")
    [ -n "$broken" ] && { stop_shared; echo "its runner: $broken"; return 1; }
    if ! shared_alive; then
      local crash; crash=$(grep -m1 -E '^\[ *[0-9.]*\] (Oops|BUG|general protection fault|Kernel panic - not syncing)' \
                           "$pdir/console.log" | tr -d '\r' || true)
      echo "QEMU ended while the lab booted${crash:+ ($crash)}: $(tail -1 "$pdir/qemu.err" 2>/dev/null)"
      return 1
    fi
    sleep 0.2
  done
  stop_shared
  echo "it did not come up within 600 s"
  return 1
}

ensure_shared() {
  shared_alive && return 0
  local why
  why=$(boot_shared) && return 0
  echo "lab: the shared $arch lab did not boot: $why: booting it once more" >&2
  why=$(boot_shared) && return 0
  die "the shared $arch lab did not boot: $why (last console lines: $(tail -3 "$pdir/console.log" | tr -d '\r'))"
}

# What the lab's console showed during the job, for crash_context and the last lines.
job_console() {
  tail -c +"$((job_offset + 1))" "$pdir/console.log" | tr -d '\r' > "$w/console.log"
  log=$w/console.log
}

# One try of the job: its output on stdout, the verdict's first line in $verdict and a
# crash seen meanwhile in $crashed.
try_job() { # keep-after-crash (0|1)
  ensure_shared
  local nonce; nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
  job_offset=$(stat -c %s "$pdir/console.log")
  rm -f "$w/verdict"
  local keep=()
  [ "$1" = 1 ] && keep=(--keep-after-crash)
  set +e
  python3 "$here/lab_job.py" "${keep[@]}" "$pdir/jobs.sock" \
    "$pdir/console.log" "$(shared_pid)" "$nonce" "$timeout_s" "$w/job.tar" "$w/verdict"
  set -e
  verdict=$(sed -n 1p "$w/verdict" 2>/dev/null)
  crashed=$(sed -n 's/^crash //p' "$w/verdict" 2>/dev/null | head -1)
  [ -n "$verdict" ] || verdict="unsent the job client failed"
  job_console
}

# Why a try was a fault of the lab (said as a lab of its own says it), or nothing.
shared_fault() {
  case "$verdict" in
    crash*) echo "the lab kernel crashed: $crashed";;
    hung) echo "the lab stopped answering (no status $timeout_s s and a margin after the job began, though its runner kills a job at $timeout_s s: its kernel is stuck)";;
    lost) echo "the lab never began the job it was handed (no BEGIN within lab_job.py's BEGIN_WAIT_S: the job was lost on its way in, or the lab is stuck)";;
    died|unsent*)
      local qe=""
      for _ in $(seq 20); do qe=$(cat "$pdir/qemu.exit" 2>/dev/null) && [ -n "$qe" ] && break; sleep 0.1; done
      if [ "$verdict" = died ] && [ -n "$crashed" ]; then echo "the lab kernel crashed: $crashed"
      elif [ "$verdict" = died ]; then
        echo "the lab ended without the command's status (QEMU exit ${qe:-unknown}: its kernel rebooted or stopped silently)"
      else echo "the job could not be handed to the lab (${verdict#unsent })"; fi;;
  esac
}

run_shared() {
  mkdir -p "$pdir"
  exec 8>"$pdir/lock"
  flock 8 # one job at a time per lab; others wait their turn
  mkdir -p "$w/job/root"
  add_files "$w/job/root"
  printf '%q ' "$@" > "$w/job/command.sh"
  tar -C "$w/job" -cf "$w/job.tar" root command.sh
  # Stopped mid-job (a test's timeout): the lab may still run it; it is not to be reused.
  trap 'stop_shared; exit 143' TERM INT
  try_job 0
  local fault
  fault=$(shared_fault)
  if [ -n "$fault" ]; then
    echo "lab: $fault (the lab, not the command): booting the lab once more" >&2
    crash_context >&2
    last_console_lines >&2
    [ -z "${PAGODA_LAB_RETRY_LOG:-}" ] || echo "$arch lab retried: $fault; command: $*" >> "$PAGODA_LAB_RETRY_LOG"
    stop_shared
    try_job 1
  fi
  [ -z "$crashed" ] || stop_shared # a lab whose kernel crashed serves no one else
  case "$verdict" in
    "status 124")
      stop_shared # a job out of time may have left the lab wedged
      echo "lab: timed out after $timeout_s s (--timeout raises the limit)" >&2
      exit 124;;
    status*) exit "${verdict#status }";;
    hung)
      stop_shared
      echo "lab: timed out after $timeout_s s, and the lab did not end the job (--timeout raises the limit)" >&2
      exit 124;;
  esac
  stop_shared
  echo "lab: the $arch lab ended without reporting COMMAND's status ($(shared_fault))" >&2
  echo "lab: last console lines:" >&2
  tail -15 "$log" >&2
  crash_context >&2
  exit 125
}

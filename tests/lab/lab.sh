#!/usr/bin/env bash
# The lab: Linux's own KVM inside QEMU (TCG with SVM + nested paging on x86, EL2 on arm64),
# everything from Debian's archive. Boots the lab kernel with an initramfs holding busybox,
# the KVM modules, hugetlb pools and the files given, runs COMMAND there and exits with
# COMMAND's status; its output is printed as it runs. --patched-kvm runs pagoda's patched
# KVM (kvm/build-patched-kvm.sh, built once for the lab kernel and cached): on x86 its
# modules are loaded into the lab kernel, on arm64 (KVM built in) the lab boots a whole
# kernel of that build instead of Debian's; the lab also holds the patched KVM's selftest,
# /bin/access_log_test. --kvm-param P=V loads x86's kvm.ko with that parameter
# (e.g. tdp_mmu=0). --drive IMAGE gives the lab a virtio disk,
# /dev/vda, backed by IMAGE through a throw-away overlay (IMAGE is never written): for
# images too big to copy into the lab's initramfs. --append ARGS adds to the lab kernel's
# command line (e.g. hugepagesz=1G hugepages=2: 1 GiB pages reserved at boot, before
# memory fragments).
#
#   lab.sh x86|arm64 [--add FILE[:DEST]]... [--drive IMAGE] [--append ARGS] [--timeout SECONDS] [--mem MB]
#          [--patched-kvm] [--kvm-param P=V]... -- COMMAND...
#   lab.sh x86|arm64 --kernel-path   (fetches the lab kernel, prints its path: the arm64
#                                     tests boot the same Debian kernel as a guest)
#   lab.sh --stop-shared             (ends the shared labs, below)
#
# With PAGODA_LAB_SHARED=DIR (test.sh sets it) labs alike are booted once and shared by the
# tests, each command run there as a job with the same output and status: see
# tests/lab/lab_shared.sh.
#
# Executables keep their shared libraries (copied with ldd) and land in /bin unless DEST
# says otherwise; other files land in /. Exit status: COMMAND's, or 124 when the lab timed
# out, or 125 when the lab itself failed (package missing, QEMU error, no exit marker), or
# 77 when --patched-kvm cannot be built because its packages cannot be fetched (says why).
# A lab whose own kernel crashes or whose QEMU dies is booted once more (see lab_fault).
# Cache (kernels, packages): ${PAGODA_LAB_CACHE:-/var/cache/pagoda/lab}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "lab: $*" >&2; exit 125; }
if [ "${1:-}" = --stop-shared ]; then # test.sh, when it is done with the labs
  for pidfile in "${PAGODA_LAB_SHARED:?--stop-shared needs PAGODA_LAB_SHARED}"/*/qemu.pid; do
    [ -f "$pidfile" ] && pkill -TERM -s "$(cat "$pidfile")" 2>/dev/null
    rm -f "$pidfile"
  done
  exit 0
fi
[ $# -ge 1 ] || die "usage: lab.sh x86|arm64 [--add FILE[:DEST]]... [--timeout S] [--mem MB] -- COMMAND..."
arch=$1; shift
case "$arch" in x86|arm64) ;; *) die "unknown lab '$arch': use x86 or arm64";; esac
adds=(); timeout_s=${LAB_TIMEOUT:-600}; mem=${LAB_MEM:-4096}; kernel_path_only=0; patched_kvm=0; drive='' append='' kvm_params=''
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    --add) adds+=("$2"); shift 2;;
    --drive) drive=$2; shift 2;;
    --append) append=$2; shift 2;;
    --timeout) timeout_s=$2; shift 2;;
    --mem) mem=$2; shift 2;;
    --kernel-path) kernel_path_only=1; shift;;
    --patched-kvm) patched_kvm=1; shift;;
    --kvm-param) kvm_params="$kvm_params $2"; shift 2;;
    *) die "unknown option $1";;
  esac
done
[ "${1:-}" = "--" ] && shift
[ -z "$kvm_params" ] || [ "$arch" = x86 ] || die "--kvm-param: x86 only (arm64's KVM is built into its kernel)"
[ $# -gt 0 ] || [ $kernel_path_only = 1 ] || die "no command given: lab.sh $arch ... -- COMMAND"
cache=${PAGODA_LAB_CACHE:-/var/cache/pagoda/lab}/$arch
mkdir -p "$cache"

apt_install() { # packages...
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "lab: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1
  } || die "could not install ${missing[*]} with apt-get"
}

# The lab kernel: Debian's 6.12 cloud kernel, unpacked once into the cache.
fetch_kernel() { # debian-arch
  local darch=$1 suffix=$2
  [ -f "$cache/kernel.stamp" ] && return 0
  local pkg
  pkg=$(apt-cache search --names-only "^linux-image-6\\.12.*-cloud-$suffix-unsigned\$" | sort -V | tail -1 | cut -d' ' -f1)
  if [ -z "$pkg" ]; then
    apt-get update >/dev/null 2>&1
    pkg=$(apt-cache search --names-only "^linux-image-6\\.12.*-cloud-$suffix-unsigned\$" | sort -V | tail -1 | cut -d' ' -f1)
  fi
  [ -n "$pkg" ] || die "no linux-image-6.12 cloud kernel for $darch in the package lists"
  echo "lab: downloading $pkg" >&2
  local d; d=$(mktemp -d "$cache/dl.XXXX")
  ( cd "$d" && apt-get download "$pkg:$darch" >/dev/null 2>&1 ) || die "apt-get download $pkg:$darch failed"
  if [ "$darch" = arm64 ]; then
    ( cd "$d" && apt-get download busybox-static:arm64 >/dev/null 2>&1 ) || die "apt-get download busybox-static:arm64 failed"
  fi
  rm -rf "$cache/k"
  for deb in "$d"/*.deb; do dpkg-deb -x "$deb" "$cache/k"; done
  rm -rf "$d"
  echo "$pkg" > "$cache/kernel.stamp"
}

if [ "$arch" = x86 ]; then
  apt_install qemu-system-x86 busybox-static cpio xz-utils
  fetch_kernel amd64 amd64
  busybox=/bin/busybox
  qemu=(qemu-system-x86_64 -accel "tcg${LAB_TCG_THREAD:+,thread=$LAB_TCG_THREAD}" -cpu max -M q35)
  # tsc=reliable: no clocksource watchdog, so a TCG vCPU scheduled late cannot get the TSC
  # marked unstable, which flips __sched_clock_stable and patches the kernel's text at run
  # time (the race kvm_hold.c explains; one lab crashed at sched_clock_cpu that way).
  console="ttyS0 tsc=reliable"
  modules=(virt/lib/irqbypass arch/x86/kvm/kvm arch/x86/kvm/kvm-amd drivers/net/tun drivers/net/veth)
  [ -n "$drive" ] && modules+=(drivers/block/virtio_blk)
else
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update >/dev/null 2>&1; }
  apt_install qemu-system-arm cpio xz-utils
  fetch_kernel arm64 arm64
  busybox=$cache/k/bin/busybox
  qemu=(qemu-system-aarch64 -accel "tcg${LAB_TCG_THREAD:+,thread=$LAB_TCG_THREAD}" -M virt,virtualization=on,gic-version=3 -cpu max)
  console="ttyAMA0 kvm-arm.mode=nvhe"
  modules=(drivers/net/tun drivers/net/veth)
  [ -n "$drive" ] && modules+=(drivers/block/virtio_blk)
fi
drive_args=()
if [ -n "$drive" ]; then
  [ -f "$drive" ] || die "--drive $drive: no such file"
  drive_args=(-drive "file=$drive,if=virtio,format=raw,snapshot=on")
fi
kernel=$(ls "$cache"/k/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$kernel" ] || die "lab kernel missing in $cache/k/boot (remove $cache and retry)"
[ $kernel_path_only = 1 ] && { echo "$kernel"; exit 0; }
command -v "${qemu[0]}" >/dev/null || die "${qemu[0]} not found"

w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
r=$w/root
mkdir -p "$r"/{bin,proc,sys,dev,tmp,mods,lib,lib64,hugetlb}
cp "$busybox" "$r/bin/busybox"
mods_dir=$(ls -d "$cache"/k/lib/modules/*/kernel 2>/dev/null | head -1)
for m in "${modules[@]}"; do
  xz -dc "$mods_dir/$m.ko.xz" > "$r/mods/$(basename "$m").ko" || die "module $m missing from the lab kernel"
done
if [ $patched_kvm = 1 ]; then
  release=$(basename "$kernel"); release=${release#vmlinuz-}
  set +e
  built=$("$here/../../kvm/build-patched-kvm.sh" "$release")
  bstatus=$?
  set -e
  [ $bstatus = 2 ] && { echo "lab: --patched-kvm: its packages cannot be fetched here (above)" >&2; exit 77; }
  [ $bstatus = 0 ] || die "--patched-kvm: building the patched KVM failed (above)"
  if [ "$arch" = x86 ]; then
    cp "$built/kvm.ko" "$built/kvm-amd.ko" "$r/mods/"
  else
    # arm64: a whole kernel of pagoda's build, with the modules above built in.
    kernel=$built/Image
    rm -f "$r"/mods/*.ko
  fi
  adds+=("$built/access_log_test:/bin/access_log_test")
fi

copy_with_libs() { # file dest root
  local f=$1 dest=$2 root=$3
  mkdir -p "$root$(dirname "$dest")"
  cp -r "$f" "$root$dest"
  if [ -x "$f" ] && file -b "$f" 2>/dev/null | grep -q 'dynamically linked'; then
    ldd "$f" | grep -o '/[^ ]*' | while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
    done
  fi
}
add_files() { # root: the --add files, with their libraries
  for a in "${adds[@]}"; do
    src=${a%%:*}; dest=${a#*:}
    [ -e "$src" ] || die "--add $src: no such file"
    if [ "$dest" = "$a" ]; then
      if [ -x "$src" ]; then dest=/bin/$(basename "$src"); else dest=/$(basename "$src"); fi
    fi
    copy_with_libs "$src" "$dest" "$1"
  done
}
command -v file >/dev/null || apt_install file
# x86: kvm_hold keeps KVM's static keys on for the lab's life (why: tests/lab/kvm_hold.c).
if [ "$arch" = x86 ]; then
  cc -O2 -Wall -static -o "$r/bin/kvm_hold" "$here/kvm_hold.c" ||
    die "could not build tests/lab/kvm_hold.c"
fi
# The lab's start, the same for a lab of its own and a shared one: what init does before
# the command (or, shared, before taking jobs).
write_init_prologue() {
  cat <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc p /proc; mount -t sysfs s /sys; mount -t devtmpfs d /dev; mount -t tmpfs t /tmp
for m in /mods/irqbypass.ko /mods/kvm.ko /mods/kvm-amd.ko /mods/tun.ko /mods/veth.ko /mods/virtio_blk.ko; do
  [ -f \$m ] && insmod \$m \$([ \$m = /mods/kvm.ko ] && echo "$kvm_params")
done
[ -x /bin/kvm_hold ] && { /bin/kvm_hold & }
echo 256 > /proc/sys/vm/nr_hugepages
mount -t hugetlbfs none /hugetlb
export HOME=/tmp PATH=/bin
cd /tmp
INIT
}
# Where a crashed lab kernel was (its RIP and call trace), so that a crash inside a module
# of ours can be told from the lab's known ones.
crash_context() {
  grep -q -E '(Oops|BUG|general protection fault|Kernel panic)' "$log" || return 0
  echo "lab: the crash in the lab kernel's log:"
  grep -m 40 -E '(Oops|BUG|general protection fault|Kernel panic|RIP:|Call Trace|Modules linked in| \? |^\[ *[0-9.]*\]  [a-z_0-9.]+\+0x)' "$log" || true
}
# What the lab printed last: a lab that ended without a word at loglevel 3 may still have
# said something before (a warning, the command's last line).
last_console_lines() { # (a lab that printed nothing has none: not a failure here)
  echo "lab: its last console lines:"
  { grep -v '^$' "$log" || true; } | tail -8 | sed 's/^/  /'
}
if [ -n "${PAGODA_LAB_SHARED:-}" ]; then
  # shellcheck source=tests/lab/lab_shared.sh
  . "$here/lab_shared.sh"
  if lab_shareable; then
    run_shared "$@" # exits
  fi
fi
add_files "$r"

# The marker carries a nonce, so nothing the command prints can fake the status.
nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
# The command goes in a file of its own, quoted word by word: nothing in it can break init.
printf '%q ' "$@" > "$r/command.sh"
{ write_init_prologue; cat <<INIT
echo "@@PAGODA-LAB-BEGIN $nonce"
sh /command.sh
status=\$?
echo
echo "@@PAGODA-LAB-EXIT $nonce \$status"
poweroff -f
INIT
} > "$r/init"
chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$w/initrd.gz"

log=$w/console.log
# Two vCPUs, multi-threaded TCG: the one setup under which every lab and Linux test has
# passed. The x86 lab kernel used to oops on a stray int3 (__schedule, inside KVM) once
# every ~100 VM creations: its run-time code patching racing the other vCPU under
# multi-threaded TCG; kvm_hold (above) stops that patching (0 crashes in 700 `pagoda run`s,
# against 2 of 2 lab boots crashed within 100 without it). Any crash of the lab's own
# kernel still gets the lab booted once more (lab_fault). Single-
# threaded TCG left 512 MiB Linux guests spinning after ACPI init, and one vCPU
# (LAB_SMP=1) hung pagoda with its output in a file.
boot_lab() {
  set +e
  timeout --foreground "$timeout_s" "${qemu[@]}" -smp "${LAB_SMP:-2}" -m "$mem" -nographic -no-reboot \
    -kernel "$kernel" -initrd "$w/initrd.gz" "${drive_args[@]}" \
    -append "console=$console panic=-1 quiet loglevel=3 $append" 2>"$w/qemu.err" |
    tr -d '\r' | tee "$log" | sed -n "/@@PAGODA-LAB-BEGIN $nonce/,/@@PAGODA-LAB-EXIT $nonce/p" | grep -v "@@PAGODA-LAB-"
  qstatus=${PIPESTATUS[0]}
  set -e
  status=$(sed -n "s/^@@PAGODA-LAB-EXIT $nonce \([0-9]\{1,3\}\)\$/\1/p" "$log" | tail -1)
}
# A recognised lab fault: the lab's own kernel crashed (its log has the crash line: the
# command's status, if it got one, is not to be trusted, and with panic=-1 QEMU may just
# end), QEMU itself died of a signal, or the lab ended with no status at all (its kernel
# rebooted or stopped without a word at loglevel 3: seen once under a 4-vCPU Linux guest
# whose RCU stalled, QEMU exit 0). Only then is the lab booted once more (once), and the
# retry is said on stderr and appended to $PAGODA_LAB_RETRY_LOG (test.sh prints those
# with its summary): a retry is never silent, and a fault that comes back fails. A
# timeout is never retried.
lab_fault() {
  [ "$qstatus" != 124 ] || return 1
  local crash
  crash=$(grep -m1 -E '^\[ *[0-9.]*\] (Oops|BUG|general protection fault|Kernel panic - not syncing)' "$log" || true)
  if [ -n "$crash" ]; then echo "the lab kernel crashed: $crash"; return 0; fi
  [ -z "$status" ] || return 1
  if [ "$qstatus" -ge 128 ]; then
    echo "QEMU died of signal $((qstatus - 128)): $(tail -1 "$w/qemu.err" 2>/dev/null)"
  else
    echo "the lab ended without the command's status (QEMU exit $qstatus: its kernel rebooted or stopped silently)"
  fi
  return 0
}
boot_lab
if fault=$(lab_fault); then
  echo "lab: $fault (the lab, not the command): booting the lab once more" >&2
  crash_context >&2
  last_console_lines >&2
  [ -z "${PAGODA_LAB_RETRY_LOG:-}" ] || echo "$arch lab retried: $fault; command: $*" >> "$PAGODA_LAB_RETRY_LOG"
  boot_lab
fi
if [ -n "$status" ]; then
  exit "$status"
fi
if [ "$qstatus" = 124 ]; then
  echo "lab: timed out after $timeout_s s (--timeout raises the limit)" >&2
  exit 124
fi
echo "lab: the $arch lab ended without reporting COMMAND's status (QEMU exit $qstatus)" >&2
tail -5 "$w/qemu.err" >&2 || true
echo "lab: last console lines:" >&2
tail -15 "$log" >&2
crash_context >&2
exit 125

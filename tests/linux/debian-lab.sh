#!/bin/sh
# Inside the x86 lab (busybox): Debian bookworm (tests/linux/build-debian-guest.sh) boots
# with Debian's kernel and initramfs on a virtio-blk root (the lab's /dev/vda) and a
# virtio-net tap on which busybox's udhcpd hands out 10.0.2.15-20, every device on the
# default transport (virtio-pci). At the serial login prompt this script logs in as root
# through pagoda's console, shows the address DHCP gave, and powers the system off.
# Prints the time from pagoda's start to the login prompt.
#   debian-lab.sh [VCPUS [PAGODA_OPTION...]]   (default 1 vCPU)
vcpus=${1:-1}
[ $# -gt 0 ] && shift
tunctl -t tap0 >/dev/null && ip link set tap0 up && ip addr add 10.0.2.1/24 dev tap0 ||
  { echo "could not set up tap0"; exit 99; }
printf 'start 10.0.2.15\nend 10.0.2.20\ninterface tap0\nlease_file /tmp/leases\nopt subnet 255.255.255.0\n' > /tmp/udhcpd.conf
touch /tmp/leases
udhcpd -f /tmp/udhcpd.conf > /tmp/udhcpd.log 2>&1 &
uptime_cs() { tr -d . < /proc/uptime | cut -d' ' -f1; }
# arm64's lab runs the guest under nested emulation: its prompt came at 174 s, and after
# 15 minutes on a host busy with other work.
case $(uname -m) in aarch64) wait_s=1500;; *) wait_s=600;; esac
# Waits up to wait_s for a pattern in pagoda's output while it runs.
seen() { i=0; while kill -0 $pid 2>/dev/null && ! tr -d '\r' < /tmp/out | grep -q "$1"; do
  i=$((i + 1)); [ $i -gt $((wait_s * 5)) ] && return 1; sleep 0.2; done; tr -d '\r' < /tmp/out | grep -q "$1"; }
mkfifo /tmp/console
t0=$(uptime_cs)
pagoda run -k /vmlinuz -i /initrd.img --disk /dev/vda --net tap=tap0 -m 1G -c "$vcpus" --timeout $((wait_s + 300)) --stats \
  -p "root=/dev/vda rw" "$@" < /tmp/console > /tmp/out 2>&1 &
pid=$!
# A write into the console's FIFO after pagoda has gone (it died, or ended early) must not
# kill this script with SIGPIPE before it prints pagoda's output and status: one CI run
# lost both that way (the lab's command ended 141 with nothing printed).
trap '' PIPE # set after pagoda started: pagoda keeps the default
exec 3> /tmp/console # the console's input stays open until the end
# The prompt, not the line's end: the guest's kernel may print on the same line right
# after it ("pagoda-debian login: [   32.57] powernow_k8: ..." failed a full run).
if seen "pagoda-debian login: "; then
  t=$(( $(uptime_cs) - t0 ))
  sleep 1
  printf 'root\n' >&3
  seen "root@pagoda-debian" && sleep 1 &&
    printf 'echo address: $(ip -4 -o addr show scope global); systemctl poweroff\n' >&3
fi
wait $pid
rc=$?
cat /tmp/out
echo "pagoda exit: $rc"
[ -n "${t:-}" ] && echo "login prompt after $((t / 100)).$(printf %02d $((t % 100))) s (pagoda's start to the serial getty's prompt, lab time)"
exit $rc

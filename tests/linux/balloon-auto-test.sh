#!/usr/bin/env bash
# --balloon auto with a Linux guest in the x86 lab (tests/linux/balloon-auto-lab.sh runs
# there): idle, the balloon takes what the guest does not use; under a 192 MiB load it
# gives memory back (the target falls, RSS rises by the load) and the guest is not
# killed; once the load is freed it takes it again (the target climbs back, RSS falls).
#   balloon-auto-test.sh PAGODA INITRAMFS GUEST_TEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 initramfs=$2 guest_test=$3
kernel=$("$here/build-kernel.sh")/bzImage
out=$(mktemp); trap 'rm -f "$out"' EXIT
set +e
python3 "$guest_test" "$here/../lab/lab.sh" --wall 1200 --exit 0 \
  --expect='^PAGODA-INIT-OK' --expect='LOAD-DONE' --reject='Out of memory: Killed|Kernel panic' \
  --expect='"auto": true' -- \
  x86 --timeout 900 --add "$pagoda" --add "$kernel:/kernel" --add "$initramfs:/initramfs.cpio" \
  --add "$here/balloon-auto-lab.sh:/bin/balloon-auto-lab.sh" -- sh /bin/balloon-auto-lab.sh | tee "$out"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || exit "$rc"
# stage NAME: balloon target T MiB, VM RSS R MiB
read -r t_idle r_idle < <(sed -n 's/^stage LOAD-IDLE: balloon target \([0-9]*\) MiB, VM RSS \([0-9]*\) MiB/\1 \2/p' "$out") || true
read -r t_busy r_busy < <(sed -n 's/^stage LOAD-BUSY: balloon target \([0-9]*\) MiB, VM RSS \([0-9]*\) MiB/\1 \2/p' "$out") || true
read -r t_freed r_freed < <(sed -n 's/^stage LOAD-FREED: balloon target \([0-9]*\) MiB, VM RSS \([0-9]*\) MiB/\1 \2/p' "$out") || true
echo "target idle/busy/freed: ${t_idle:-?}/${t_busy:-?}/${t_freed:-?} MiB; RSS ${r_idle:-?}/${r_busy:-?}/${r_freed:-?} MiB"
fail=0
check() { if eval "$1"; then echo "ok: $2"; else echo "FAIL: $2 ($1)"; fail=1; fi; }
check '[ -n "$t_idle" ] && [ -n "$t_busy" ] && [ -n "$t_freed" ]' "every stage was reached"
[ $fail = 0 ] || exit 1
check '[ "$t_idle" -ge 256 ]' "idle, the balloon holds at least half of the 512 MiB"
check '[ "$t_busy" -le $((t_idle - 128)) ]' "under the 192 MiB load it gave back at least 128 MiB"
check '[ "$r_busy" -ge $((r_idle + 128)) ]' "the VM's RSS grew with the load"
check '[ "$t_freed" -ge $((t_idle - 64)) ]' "the load freed, the balloon took the memory again"
# The balloon takes free pages, of which the load's are only some (130 of its 192 MiB
# left the VM's RSS in the first run): half of the load is the bar.
check '[ "$r_freed" -le $((r_busy - 96)) ]' "and the VM's RSS fell back by at least half the load"
exit $fail

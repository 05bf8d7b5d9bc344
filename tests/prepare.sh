#!/usr/bin/env bash
# What the lab suites need that a fresh machine must build or fetch first, built once
# into the caches (/var/cache/pagoda) by the scripts the tests themselves call, so that
# test.sh can run it in the background of the suites that need none of it (unit, guests,
# ASan, fuzz, memory): the arm64 cross build, both lab kernels, the Linux test kernel,
# pagoda's patched KVM for the x86 lab and the Debian guest image. A step that fails is
# said and the next one runs: the test that needs it builds it again and fails with the
# reason where it belongs. Prints one line per step with its time.
#   tests/prepare.sh            (as root, from the repository)
set -uo pipefail
cd "$(dirname "$0")/.."
step() { # name command...
  local name=$1 t0=$SECONDS
  shift
  if "$@" >/dev/null; then
    echo "prepare: $name: $((SECONDS - t0)) s"
  else
    echo "prepare: $name: FAILED after $((SECONDS - t0)) s (exit $?; its test will say why)"
  fi
}
step "arm64 cross build" cross/setup-arm64.sh
step "x86 lab kernel" tests/lab/lab.sh x86 --kernel-path
step "arm64 lab kernel" tests/lab/lab.sh arm64 --kernel-path
step "Linux test kernel" tests/linux/build-kernel.sh
lab_kernel=$(tests/lab/lab.sh x86 --kernel-path 2>/dev/null)
step "patched KVM for the x86 lab" kvm/build-patched-kvm.sh "${lab_kernel##*/vmlinuz-}"
step "Debian guest image" tests/linux/build-debian-guest.sh amd64

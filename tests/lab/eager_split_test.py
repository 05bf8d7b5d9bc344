#!/usr/bin/env python3
"""In the x86 lab (TDP MMU, real 2M mappings): what --eager-split does when dirty logging
starts on THP-backed RAM that KVM mapped with 2M blocks.
  bitmap mode, eager split on:  KVM splits every 2M mapping when logging is enabled
                                (pages_2m drops to about 0 right after enabling);
  bitmap mode, eager split off: the 2M mappings stay until the guest writes;
  clear mode (INITIALLY_SET):   enabling splits nothing; with eager split on, KVM splits
                                as each chunk is cleared (after the first harvest).
Prints the guest's first write pass after logging started in each case (the figure KVM's
eager-split work was judged by). With --bench N, N rounds and medians, no checks.

With --arm64, the same in the arm64 lab with KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE
(--eager-split chunk=2M against off). arm64 KVM has no pages_2m statistic, so the check
is what splitting costs where it happens: in bitmap mode, enabling logging with chunk=2M
must take at least twice as long as with off (it splits every block there). The guest's
first write pass after logging started is printed for each case, not checked: under TCG
it did not get measurably faster (README, the eager-split tables).

With --vcpus N (arm64), N vCPUs write each pass together.

  eager_split_test.py [--arm64] [--vcpus N] [--bench N] LAB_SH DIRTY_PERF DIRTYPERF_GUEST"""
import re
import statistics
import subprocess
import sys

X86_CASES = [("bitmap", "on"), ("bitmap", "off"), ("clear", "on"), ("clear", "off")]
ARM64_CASES = [("bitmap", "chunk=2M"), ("bitmap", "off"), ("clear", "chunk=2M"), ("clear", "off")]


def count(s):
    return -1 if s == "n/a" else int(s)


def fmt(v):
    return "n/a" if v < 0 else f"{v:.0f}"


def main():
    argv = sys.argv[1:]
    rounds, bench, arch, vcpus = 1, False, "x86", 1
    if argv[0] == "--arm64":
        arch, argv = "arm64", argv[1:]
    if argv[0] == "--vcpus":
        vcpus, argv = int(argv[1]), argv[2:]
    if argv[0] == "--bench":
        rounds, bench, argv = int(argv[1]), True, argv[2:]
    cases = ARM64_CASES if arch == "arm64" else X86_CASES
    lab, perf, guest = argv[:3]
    script = []
    for r in range(rounds):
        for mode, eager in cases:
            script.append(f"echo '== {mode} {eager} {r}'; dirty-perf /dirtyperf.guest -m 1G -c {vcpus} "
                          f"--memory-backend thp --dirty-log {mode} --eager-split {eager} "
                          f"-p 'passes=3 pages=20000 vcpus={vcpus}' 2>&1")
    cmd = [lab, arch, "--timeout", "1500", "--mem", "4096", "--add", perf, "--add", f"{guest}:/dirtyperf.guest",
           "--", "sh", "-c", "; ".join(script)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode(errors="replace")
    print(out)
    res = {}
    for block in out.split("== ")[1:]:
        head = block.split("\n", 1)[0].split()
        before = re.search(r"pages_2m then (\d+|n/a)", block)
        after = re.search(r"enable logging: ([\d.]+) ms; pages_2m after: (\d+|n/a)", block)
        first = re.search(r"^\s+1\s+([\d.]+)\s", block, re.M)
        second = re.search(r"^\s+2\s+([\d.]+)\s", block, re.M)
        if len(head) == 3 and before and after and first and second:
            res.setdefault((head[0], head[1]), []).append(dict(
                before=count(before.group(1)), after=count(after.group(2)), enable_ms=float(after.group(1)),
                first=float(first.group(1)), second=float(second.group(1))))
    failures = [] if p.returncode == 0 else [f"lab exit {p.returncode}"]
    for c in cases:
        if c not in res:
            failures.append(f"{c[0]} eager {c[1]}: no result")
    if failures:
        for f in failures:
            print("FAIL: " + f)
        return 1
    print(f"\n{arch} lab, 1 GiB THP guest, {vcpus} vCPU(s) writing, 20000 pages per pass" +
          (f", medians of {rounds}" if rounds > 1 else ""))
    print("mode    eager     pages_2m before  after enable  enable ms  1st pass after start ms  2nd pass ms")
    for c in cases:
        rs = res[c]
        med = {k: statistics.median(r[k] for r in rs) if rs[0][k] >= 0 else -1 for k in rs[0]}
        print(f"{c[0]:<7} {c[1]:<8} {fmt(med['before']):>16} {fmt(med['after']):>13} {med['enable_ms']:>10.2f} "
              f"{med['first']:>24.1f} {med['second']:>12.1f}")
    if bench:
        return 0
    if arch == "arm64":
        on, off = res[("bitmap", "chunk=2M")][0], res[("bitmap", "off")][0]
        if on["enable_ms"] < 2 * off["enable_ms"]:
            failures.append(f"chunk=2M: enabling logging took {on['enable_ms']:.2f} ms, off {off['enable_ms']:.2f} ms: "
                            "KVM did not split at enable time")
        for f in failures:
            print("FAIL: " + f)
        return 1 if failures else 0
    on, off, clear_on = res[("bitmap", "on")][0], res[("bitmap", "off")][0], res[("clear", "on")][0]
    if on["before"] < 400 or off["before"] < 400:
        failures.append("THP RAM was not mapped with 2M blocks before logging started")
    if on["after"] > 0.05 * on["before"]:
        failures.append(f"eager split on: pages_2m {on['after']} after enabling (expected ~0)")
    if off["after"] < 0.9 * off["before"]:
        failures.append(f"eager split off: pages_2m fell to {off['after']} when logging started")
    if clear_on["after"] < 0.9 * clear_on["before"]:
        failures.append("clear mode with INITIALLY_SET split at enable time")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

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

  eager_split_test.py [--bench N] LAB_SH DIRTY_PERF DIRTYPERF_ELF"""
import re
import statistics
import subprocess
import sys

CASES = [("bitmap", "on"), ("bitmap", "off"), ("clear", "on"), ("clear", "off")]


def main():
    argv = sys.argv[1:]
    rounds, bench = 1, False
    if argv[0] == "--bench":
        rounds, bench, argv = int(argv[1]), True, argv[2:]
    lab, perf, guest = argv[:3]
    script = []
    for r in range(rounds):
        for mode, eager in CASES:
            script.append(f"echo '== {mode} {eager} {r}'; dirty-perf /dirtyperf.elf -m 1G --memory-backend thp "
                          f"--dirty-log {mode} --eager-split {eager} -p 'passes=3 pages=20000' 2>&1")
    cmd = [lab, "x86", "--timeout", "1500", "--mem", "4096", "--add", perf, "--add", f"{guest}:/dirtyperf.elf",
           "--", "sh", "-c", "; ".join(script)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode(errors="replace")
    print(out)
    res = {}
    for block in out.split("== ")[1:]:
        head = block.split("\n", 1)[0].split()
        before = re.search(r"pages_2m then (\d+)", block)
        after = re.search(r"enable logging: ([\d.]+) ms; pages_2m after: (\d+)", block)
        first = re.search(r"^\s+1\s+([\d.]+)\s", block, re.M)
        second = re.search(r"^\s+2\s+([\d.]+)\s", block, re.M)
        if len(head) == 3 and before and after and first and second:
            res.setdefault((head[0], head[1]), []).append(dict(
                before=int(before.group(1)), after=int(after.group(2)), enable_ms=float(after.group(1)),
                first=float(first.group(1)), second=float(second.group(1))))
    failures = [] if p.returncode == 0 else [f"lab exit {p.returncode}"]
    for c in CASES:
        if c not in res:
            failures.append(f"{c[0]} eager {c[1]}: no result")
    if failures:
        for f in failures:
            print("FAIL: " + f)
        return 1
    print("\nmode    eager  pages_2m before  after enable  enable ms  1st pass after start ms  2nd pass ms")
    for c in CASES:
        rs = res[c]
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"{c[0]:<7} {c[1]:<5} {med['before']:>15.0f} {med['after']:>13.0f} {med['enable_ms']:>10.2f} "
              f"{med['first']:>24.1f} {med['second']:>12.1f}")
    if bench:
        return 0
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

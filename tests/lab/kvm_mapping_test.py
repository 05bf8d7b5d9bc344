#!/usr/bin/env python3
"""In the x86 lab (real nested paging), after the pattern guest touched all of its RAM:
KVM maps THP and hugetlb 2M RAM with 2 MiB blocks (pages_2m) and hugetlb 1G RAM with 1 GiB
blocks (pages_1g), covering most of RAM; 4K anonymous RAM gets neither; and THP whose host
addresses are skewed by 4 KiB off the guest's 2 MiB alignment (test-only switch) falls back
to 4K mappings: the alignment is what makes the blocks. Also prints each backend's first
write pass (the guest's LAPIC stopwatch), the figure tools/ reports.

  kvm_mapping_test.py LAB_SH PAGODA MEMPATTERN_ELF"""
import re
import subprocess
import sys

MiB = 1 << 20
SIZE = "1G"
RUNS = [  # name, extra env, pagoda arguments
    ("anon", "", ["--memory-backend", "anon"]),
    ("thp", "", ["--memory-backend", "thp"]),
    ("thp-skewed", "PAGODA_TEST_HVA_SKEW=4096", ["--memory-backend", "thp"]),
    ("hugetlb-2M", "", ["--memory-backend", "hugetlb"]),
    ("hugetlb-1G", "", ["--memory-backend", "hugetlb", "--hugepage-size", "1G"]),
]


def lab_script():
    # the 1 GiB page first, while memory is not yet fragmented
    lines = ["echo 1 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
             "echo 600 > /proc/sys/vm/nr_hugepages",
             "echo hugepages: $(cat /proc/sys/vm/nr_hugepages) $(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages)"]
    for name, env, args in RUNS:
        cmd = " ".join([env, "pagoda", "run", "-m", SIZE, "--stats", "--timeout", "300",
                        "-k", "/bin/mempattern.elf"] + args).strip()
        lines.append(f"echo '== {name}'; {cmd} 2>&1; echo \"== rc $?\"")
    return "; ".join(lines)


def main():
    lab, pagoda, guest = sys.argv[1:4]
    cmd = [lab, "x86", "--timeout", "900", "--mem", "6144", "--add", pagoda, "--add", guest, "--", "sh", "-c", lab_script()]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode(errors="replace")
    print(out)
    failures = []
    if p.returncode != 0:
        failures.append(f"lab exit {p.returncode}")
    res = {}
    for block in out.split("== ")[1:]:
        name = block.split("\n", 1)[0].strip()
        m = re.search(r"pages_4k=(\d+) pages_2m=(\d+) pages_1g=(\d+)", block)
        w = re.search(r"write pass: (\d+) us", block)
        rc = re.search(r"rc (\d+)", out[out.index("== " + name):])
        if m and w:
            res[name] = dict(p4=int(m.group(1)), p2=int(m.group(2)), p1=int(m.group(3)), write_us=int(w.group(1)),
                             rc=int(rc.group(1)) if rc else -1)
    for name, _, _ in RUNS:
        if name not in res:
            failures.append(f"{name}: no statistics or timing in the output")
    if failures:
        for f in failures:
            print("FAIL: " + f)
        return 1
    ram = 1024 * MiB
    print("\nbackend        pages_4k  pages_2m  pages_1g  covered-by-blocks  write-pass-ms")
    for name, r in res.items():
        covered = (r["p2"] * 2 * MiB + r["p1"] * 1024 * MiB) / ram
        r["covered"] = covered
        print(f"{name:<14} {r['p4']:>8}  {r['p2']:>8}  {r['p1']:>8}  {covered:>16.0%}  {r['write_us'] / 1000:>13.1f}")
        if r["rc"] != 0:
            failures.append(f"{name}: pagoda exit {r['rc']}")

    def need(cond, what):
        if not cond:
            failures.append(what)
    need(res["anon"]["covered"] < 0.05, "anon (4K) RAM got block mappings")
    need(res["thp"]["covered"] > 0.8, "THP RAM not mostly mapped with 2M blocks")
    need(res["hugetlb-2M"]["covered"] > 0.8, "hugetlb 2M RAM not mostly mapped with 2M blocks")
    need(res["hugetlb-1G"]["p1"] >= 1, "hugetlb 1G RAM not mapped with a 1G block")
    need(res["thp-skewed"]["covered"] < 0.05, "THP with skewed host addresses still got 2M blocks")
    need(res["thp-skewed"]["p4"] > 0.8 * ram / 4096, "THP with skewed host addresses not on 4K mappings")
    base = res["anon"]["write_us"]
    for name in ("thp", "hugetlb-2M", "hugetlb-1G"):
        print(f"speed-up of {name} over anon 4K on the first write pass: {base / max(res[name]['write_us'], 1):.2f}x")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

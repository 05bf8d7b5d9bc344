#!/usr/bin/env python3
"""One memory backend end to end: the pattern guest fills and verifies all of RAM
(including above 4 GiB), then holds while this test reads /proc/PID/smaps of pagoda to
see how the kernel backs guest RAM, and compares with pagoda's own --stats.

  memory_test.py PAGODA MEMPATTERN_ELF SIZE BACKEND [--hugepage-size 2M|1G]

Grows the hugetlb pool it needs and puts it back. Exit 77 (skipped) only when the host
cannot give the huge pages at all (1 GiB pages on a fragmented host)."""
import os
import re
import select
import subprocess
import sys
import time

GiB = 1 << 30
MiB = 1 << 20


def parse_size(s):
    return int(s[:-1]) * {"M": MiB, "G": GiB}[s[-1]]


def pool_path(page):
    return f"/sys/kernel/mm/hugepages/hugepages-{page >> 10}kB/nr_hugepages"


def grow_pool(page, pages):
    path = pool_path(page)
    old = int(open(path).read())
    with open("/proc/sys/vm/compact_memory", "w") as f:  # 1 GiB pages need contiguous memory
        f.write("1")
    with open(path, "w") as f:
        f.write(str(old + pages))
    got = int(open(path).read()) - old
    return old, got


def smaps_of(smaps, start, end):
    """Sums the smaps fields (the text of /proc/PID/smaps) of the mappings inside [start,
    end): a region may be several mappings."""
    tot = {}
    inside = False
    for line in smaps.splitlines():
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
        if m:
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            inside = lo >= start and hi <= end
            continue
        if inside:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                tot[k] = tot.get(k, 0) + int(v.split()[0]) * 1024
                if k == "KernelPageSize":
                    tot["page"] = int(v.split()[0]) * 1024
    return tot


def main():
    pagoda, guest, size_s, backend = sys.argv[1:5]
    hps = sys.argv[6] if len(sys.argv) > 6 and sys.argv[5] == "--hugepage-size" else None
    size = parse_size(size_s)
    page = parse_size(hps) if hps else (2 * MiB if backend == "hugetlb" else 4096)
    restore = None
    args = ["--memory-backend", backend]
    if backend == "hugetlb":
        need = size // page
        old, got = grow_pool(page, need)
        restore = (page, old)
        if got < need:
            open(pool_path(page), "w").write(str(old))
            print(f"SKIP: the host gave {got} of {need} {hps} huge pages")
            return 77
        args += ["--hugepage-size", hps or "2M"]
    failures = []
    try:
        cmd = [pagoda, "run", "-m", size_s, "--prefault=2", "--stats", "--timeout", "600",
               "-k", guest, "-p", "hold=1"] + args
        print("$ " + " ".join(cmd), flush=True)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = b""
        while b"holding" not in out and b"FAIL" not in out and p.poll() is None:
            r, _, _ = select.select([p.stdout], [], [], 1)
            if r:
                out += os.read(p.stdout.fileno(), 65536)
        # the region table pagoda prints at exit names the host ranges; smaps is read now,
        # while the guest holds, from the kernel directly
        smaps = open(f"/proc/{p.pid}/smaps").read()
        p.stdin.write(b"x")
        p.stdin.flush()
        rest, _ = p.communicate(timeout=120)
        out = (out + rest).decode(errors="replace")
        print(out)
        print(f"[exit {p.returncode} after {time.monotonic() - t0:.1f} s]")
        if p.returncode != 0:
            failures.append(f"exit code {p.returncode}")
        m = re.search(r"pattern ok: (\d+) pages", out)
        expected_pages = (size - 0x100000) // 4096 - 2 * 64  # below: image and bss, roughly
        if not m or int(m.group(1)) < expected_pages:
            failures.append(f"pattern did not cover RAM: {m and m.group(1)} pages")
        regions = re.findall(r"stats: region gpa=0x([0-9a-f]+) size=(\d+)M hva=0x([0-9a-f]+) "
                             r"resident=(\d+)M huge=(\d+)M kernel_page=(\d+)kB", out)
        if len(regions) != (2 if size > 3 * GiB else 1):
            failures.append(f"{len(regions)} regions in --stats")
        for gpa, rsize, hva, resident, huge, kpage in regions:
            rsize, hva = int(rsize) * MiB, int(hva, 16)
            if int(gpa, 16) % GiB or hva % GiB:
                failures.append(f"region gpa {gpa} / hva {hva:x} not 1 GiB aligned")
            sm = smaps_of(smaps, hva, hva + rsize)
            hugetlb = sm.get("Private_Hugetlb", 0) + sm.get("Shared_Hugetlb", 0)
            rss = sm.get("Rss", 0) + hugetlb
            print(f"smaps for hva {hva:x}: Rss+hugetlb={rss >> 20}M AnonHugePages="
                  f"{sm.get('AnonHugePages', 0) >> 20}M hugetlb={hugetlb >> 20}M KernelPageSize={sm.get('page', 0) >> 10}kB")
            if rss < rsize * 0.99:
                failures.append(f"smaps: only {rss >> 20}M of {rsize >> 20}M resident after --prefault")
            if backend == "thp" and sm.get("AnonHugePages", 0) < rsize * 0.9:
                failures.append("smaps: THP region not backed by AnonHugePages")
            if backend == "anon" and sm.get("AnonHugePages", 0) != 0:
                failures.append("smaps: anon (4K) region has huge pages")
            if backend == "hugetlb" and (sm.get("page") != page or hugetlb != rsize):
                failures.append(f"smaps: hugetlb region KernelPageSize {sm.get('page')} / {hugetlb >> 20}M")
            if int(resident) * MiB < rsize * 0.99:
                failures.append(f"--stats says resident {resident}M of {rsize >> 20}M")
            if int(kpage) * 1024 != sm.get("page"):
                failures.append("--stats kernel_page disagrees with smaps")
    finally:
        if restore:
            open(pool_path(restore[0]), "w").write(str(restore[1]))
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The late-teardown helper (vmm/core/late_teardown.h): while the VM runs, pagoda has one
child, pagoda-teardown, confined to seccomp's strict mode with every signal blocked and
none of pagoda's descriptors; it ends with pagoda however pagoda ends (an exit, SIGTERM,
SIGKILL), and the exit status is the guest's. --sync-exit runs without it.
  teardown_test.py PAGODA PLATFORM_GUEST_ELF"""
import os
import signal
import subprocess
import sys
import time

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def children(pid):
    """Processes whose parent is pid: {pid: comm}."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out[int(d)] = comm
    return out


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None


def running(pid):
    """True while pid exists and is not a zombie waiting for init to reap it."""
    try:
        return status_field(pid, "State")[0] != "Z"
    except (OSError, TypeError):
        return False


def gone_within(pid, seconds):
    end = time.monotonic() + seconds
    while running(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not running(pid)


def start(pagoda, guest, *extra):
    p = subprocess.Popen([pagoda, "run", "--timeout", "60", "-k", guest, "-p", "action=hang", *extra],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)  # the helper exists before the first vCPU runs
    return p


def helper_of(p):
    kids = children(p.pid)
    return [pid for pid, comm in kids.items() if comm == "pagoda-teardown"], kids


def fd_targets(pid):
    d = f"/proc/{pid}/fd"
    return {os.readlink(f"{d}/{n}") for n in os.listdir(d)}


def main():
    pagoda, guest = sys.argv[1:3]

    p = start(pagoda, guest)
    helpers, kids = helper_of(p)
    check(len(helpers) == 1 and len(kids) == 1, f"one child while the VM runs, pagoda-teardown (got {kids})")
    if helpers:
        h = helpers[0]
        check(status_field(h, "Seccomp") == "1", "the helper is in seccomp's strict mode")
        unblockable = (1 << (signal.SIGKILL - 1)) | (1 << (signal.SIGSTOP - 1))
        check(int(status_field(h, "SigBlk"), 16) | unblockable == (1 << 64) - 1,
              "the helper blocks every signal it can")
        its = fd_targets(h)
        check(len(its) == 2 and all(t.startswith("pipe:") for t in its),
              f"the helper holds only its two pipes (holds {sorted(its)})")
        check(not (its & {os.readlink(f"/proc/{p.pid}/fd/{n}") for n in (0, 1, 2)}),
              "the helper holds none of pagoda's standard descriptors")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        check(p.returncode == 128 + signal.SIGTERM, f"SIGTERM: exit 143 (got {p.returncode})")
        check(gone_within(h, 10), "the helper ends after pagoda's SIGTERM")

    p = start(pagoda, guest)
    helpers, _ = helper_of(p)
    p.kill()
    p.communicate(timeout=30)
    check(p.returncode == -signal.SIGKILL, f"SIGKILL: pagoda dies of it (got {p.returncode})")
    check(len(helpers) == 1 and gone_within(helpers[0], 10), "the helper ends after pagoda is killed")

    r = subprocess.run([pagoda, "run", "--timeout", "60", "-k", guest, "-p", "action=exit code=21"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    check(r.returncode == 43, f"a guest's exit code comes out as it is with the helper: 43 (got {r.returncode})")

    p = start(pagoda, guest, "--sync-exit")
    helpers, kids = helper_of(p)
    check(not kids, f"--sync-exit: no helper (children {kids})")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    check(p.returncode == 128 + signal.SIGTERM, f"--sync-exit: SIGTERM gives 143 (got {p.returncode})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

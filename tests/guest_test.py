#!/usr/bin/env python3
"""Runs one `pagoda run` and checks what a user would see: the exit code and the console.

  guest_test.py PAGODA --exit N [--expect REGEX]... [--reject REGEX]... [--stdin TEXT]
                [--wall SECONDS] [--or-exit N [--or-expect REGEX]...] -- RUN-ARGS...

--skip-exit N: that exit code means the test could not run here (the command says why on
its output); the test is reported skipped (77), never passed.

--or-exit names a second outcome that also passes (with its own --or-expect checks), for
behaviour the host decides rather than pagoda: on a PVM host a full dirty ring sometimes
drains and sometimes cannot, and pagoda must either finish correctly or say why it stopped.

Prints the VM's output, then why the test failed if it did. A VM that outlives --wall
(default 120 s) is killed and fails the test: a test must never hang.
"""
import argparse
import re
import subprocess
import sys
import time


def check(code, out, want_exit, expect, reject):
    failures = []
    if code != want_exit:
        failures.append(f"exit code {code}, expected {want_exit}")
    for rx in expect:
        if not re.search(rx, out, re.M):
            failures.append(f"output lacks /{rx}/")
    for rx in reject:
        if re.search(rx, out, re.M):
            failures.append(f"output has /{rx}/")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pagoda")
    ap.add_argument("--exit", type=int, required=True, dest="exit_code")
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--stdin", default=None)
    ap.add_argument("--wall", type=float, default=120)
    ap.add_argument("--or-exit", type=int, default=None)
    ap.add_argument("--or-expect", action="append", default=[])
    ap.add_argument("--skip-exit", type=int, default=None)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:split])
    args = argv[split + 1:]
    cmd = [a.pagoda] + args
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, input=(a.stdin or "").encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=a.wall)
    except subprocess.TimeoutExpired as e:
        sys.stdout.write((e.stdout or b"").decode(errors="replace"))
        print(f"\nFAIL: pagoda still running after {a.wall} s (killed)")
        return 1
    out = p.stdout.decode(errors="replace")
    sys.stdout.write(out)
    print(f"\n[exit {p.returncode} after {time.monotonic() - t0:.2f} s]")
    if a.skip_exit is not None and p.returncode == a.skip_exit:
        print("SKIP: the command could not run here (its output says why)")
        return 77
    failures = check(p.returncode, out, a.exit_code, a.expect, a.reject)
    if failures and a.or_exit is not None:
        alt = check(p.returncode, out, a.or_exit, a.or_expect, a.reject)
        if not alt:
            print(f"(the alternative outcome: exit {a.or_exit})")
            return 0
        failures += ["or: " + f for f in alt]
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Runs one `pagoda run` and checks what a user would see: the exit code, the console
and pagoda's own messages, each where it belongs.

  guest_test.py PAGODA --exit N [--expect REGEX]... [--expect-err REGEX]... [--reject REGEX]...
                [--stdin TEXT] [--wall SECONDS] [--or-exit N [--or-expect[-err] REGEX]...] -- RUN-ARGS...

--expect: on stdout (the guest's console; for lab.sh, the command's output in the lab);
--expect-err: on stderr (pagoda's own messages; for lab.sh, the lab's). A pattern found
only in the other stream fails, saying where it is. --reject: in neither.

--skip-exit N: that exit code means the test could not run here (the command says why on
its output); the test is reported skipped (77), never passed.

--or-exit names a second outcome that also passes (with its own --or-expect checks), for
behaviour the host decides rather than pagoda: on a PVM host a full dirty ring sometimes
drains and sometimes cannot, and pagoda must either finish correctly or say why it stopped.

Prints the VM's output, then why the test failed if it did. A VM that outlives --wall
(default 120 s) is killed and fails the test: a test must never hang.
"""
import argparse
import os
import re
import subprocess
import sys
import time


def check(code, out, err, want_exit, expect, expect_err, reject):
    failures = []
    if code != want_exit:
        failures.append(f"exit code {code}, expected {want_exit}")
    for rx in expect:
        if not re.search(rx, out, re.M):
            failures.append(f"the console (stdout) lacks /{rx}/" +
                            (" (it is in pagoda's stderr: --expect-err)" if re.search(rx, err, re.M) else ""))
    for rx in expect_err:
        if not re.search(rx, err, re.M):
            failures.append(f"pagoda's messages (stderr) lack /{rx}/" +
                            (" (it is on the console: --expect)" if re.search(rx, out, re.M) else ""))
    for rx in reject:
        if re.search(rx, out, re.M) or re.search(rx, err, re.M):
            failures.append(f"output has /{rx}/")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pagoda")
    ap.add_argument("--exit", type=int, required=True, dest="exit_code")
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--expect-err", action="append", default=[])
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--stdin", default=None)
    ap.add_argument("--wall", type=float, default=120)
    ap.add_argument("--or-exit", type=int, default=None)
    ap.add_argument("--or-expect", action="append", default=[])
    ap.add_argument("--or-expect-err", action="append", default=[])
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
                           stderr=subprocess.PIPE, timeout=a.wall)
    except subprocess.TimeoutExpired as e:
        sys.stdout.write((e.stdout or b"").decode(errors="replace"))
        sys.stdout.write("---- stderr ----\n" + (e.stderr or b"").decode(errors="replace"))
        print(f"\nFAIL: pagoda still running after {a.wall} s (killed)")
        return 1
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    sys.stdout.write(out)
    sys.stdout.write("\n---- stderr ----\n" + err)
    print(f"\n[exit {p.returncode} after {time.monotonic() - t0:.2f} s]")
    if os.environ.get("PAGODA_CLASSIFY"):
        for rx in a.expect + a.or_expect:
            where = ("out" if re.search(rx, out, re.M) else "") + ("err" if re.search(rx, err, re.M) else "")
            with open(os.environ["PAGODA_CLASSIFY"], "a") as f:
                f.write(f"{where or 'none'}\t{rx}\n")
    if a.skip_exit is not None and p.returncode == a.skip_exit:
        print("SKIP: the command could not run here (its output says why)")
        return 77
    failures = check(p.returncode, out, err, a.exit_code, a.expect, a.expect_err, a.reject)
    if failures and a.or_exit is not None:
        alt = check(p.returncode, out, err, a.or_exit, a.or_expect, a.or_expect_err, a.reject)
        if not alt:
            print(f"(the alternative outcome: exit {a.or_exit})")
            return 0
        failures += ["or: " + f for f in alt]
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The host side of one job in a shared lab (tests/lab/lab.sh, lab_runner.sh inside):
sends the job on the lab's virtio-serial socket, then follows the lab's console from
where it stood: the job's output (between its BEGIN and EXIT markers) goes to stdout as
it comes, and the verdict goes to VERDICT_FILE, one line:
  status N      the job ended with status N (124: its time ran out in the lab)
  crash LINE    the lab's own kernel crashed meanwhile (its status is not to be trusted)
  died          QEMU ended before the job did
  hung          no status within the job's time and a margin: the lab is stuck
  lost          the lab took the job's bytes but never began it (no BEGIN within
                BEGIN_WAIT_S): the job was lost on its way in, or the lab is stuck
  unsent WHY    the job could not be handed to the lab
With --keep-after-crash (a job's second try) a crash does not end the wait: the verdict
is what comes after it, and a second line "crash LINE" says it happened.
  lab_job.py [--keep-after-crash] SOCKET CONSOLE QEMU_PID NONCE TIMEOUT PAYLOAD VERDICT_FILE
"""
import os
import re
import socket
import sys
import time

CRASH = re.compile(r"^\[ *[0-9.]*\] (Oops|BUG|general protection fault|Kernel panic - not syncing)")
MARGIN_S = 120  # beyond the job's own limit: the lab's overhead, a slow console
# From the job handed over to its BEGIN: the runner only unpacks it (seconds). One CI run
# waited the whole 900 s + margin for a job whose BEGIN never came: the runner never
# began it (its bytes gone astray in the port), while the lab itself looked idle.
BEGIN_WAIT_S = float(os.environ.get("PAGODA_LAB_BEGIN_WAIT_S", 120))  # (tests shorten it)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def send(sock_path, header, payload_path):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(50):  # QEMU may still be setting up its end
        try:
            s.connect(sock_path)
            break
        except OSError:
            time.sleep(0.1)
    else:
        raise OSError(f"cannot connect to {sock_path}")
    s.sendall(header)
    with open(payload_path, "rb") as f:
        while chunk := f.read(1 << 20):
            s.sendall(chunk)
    return s


def follow(console, offset, pid, nonce, deadline, conn, crashes):
    """Prints the job's lines from the console, from offset on; returns the verdict.
    crashes: None to end at a crash line, else a list that collects them."""
    begin, end = f"@@PAGODA-LAB-BEGIN {nonce}", re.compile(rf"^@@PAGODA-LAB-EXIT {nonce} ([0-9]{{1,3}})$")
    started, partial = False, b""
    begin_by = time.monotonic() + BEGIN_WAIT_S
    with open(console, "rb") as f:
        f.seek(offset)
        while True:
            if not started and time.monotonic() > begin_by:
                return "lost"
            data = f.read(1 << 16)
            if not data:
                if not alive(pid):
                    data = f.read()  # what QEMU wrote before it went
                    if not data:
                        return "died"
                elif time.monotonic() > deadline:
                    return "hung"
                else:
                    time.sleep(0.05)
                    continue
            partial += data
            *lines, partial = partial.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").replace("\r", "")
                if CRASH.search(line):
                    if crashes is None:
                        return "crash " + line
                    crashes.append(line)
                if line == begin:
                    started = True
                    if conn:
                        conn.close()  # the lab has taken all of the job
                        conn = None
                    continue
                m = end.match(line)
                if m and started:
                    return "status " + m.group(1)
                if started:
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()


def main():
    args = sys.argv[1:]
    crashes = [] if args[:1] == ["--keep-after-crash"] else None
    if crashes is not None:
        args = args[1:]
    sock_path, console, pid, nonce, timeout_s, payload, verdict_file = args[:7]
    pid, timeout_s = int(pid), int(timeout_s)
    offset = os.path.getsize(console)
    header = f"JOB {nonce} {timeout_s} {os.path.getsize(payload)}\n".encode()
    # The lab's own test of a lost job: the first try's header is one the runner skips.
    if crashes is None and os.environ.get("PAGODA_LAB_TEST_LOSE_FIRST_JOB"):
        header = b"LOST" + header[3:]
    try:
        conn = send(sock_path, header, payload)
    except OSError as e:
        verdict = f"unsent {e}"
    else:
        verdict = follow(console, offset, pid, nonce, time.monotonic() + timeout_s + MARGIN_S, conn, crashes)
    with open(verdict_file, "w") as f:
        f.write(verdict + "\n")
        if crashes:
            f.write("crash " + crashes[0] + "\n")


if __name__ == "__main__":
    main()

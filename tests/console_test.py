#!/usr/bin/env python3
"""The console on a real terminal (a pty): pagoda puts it in raw mode while the guest runs
and restores it on every way out (guest exit, Ctrl-a x, SIGTERM, a crash).
  console_test.py PAGODA PLATFORM_GUEST_ELF"""
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def read_until(fd, needle, timeout=30.0):
    out = b""
    end = time.monotonic() + timeout
    while needle not in out and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def run(pagoda, guest, action, steer):
    """Starts pagoda on a fresh pty, lets steer(master, proc) act, returns
    (exit status, output, termios before, termios after, termios while running)."""
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([pagoda, "run", "--timeout", "60", "-k", guest, "-p", "action=" + action],
                         stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    out = read_until(master, b"ready" if action == "echo" else b"\n", 30)
    during = termios.tcgetattr(slave)
    out += steer(master, p)
    try:
        status = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        status = None
    out += read_until(master, b"\x00", 0.5)
    after = termios.tcgetattr(slave)
    os.close(master)
    os.close(slave)
    return status, out, before, after, during


def is_raw(attrs):
    return not (attrs[3] & (termios.ICANON | termios.ECHO | termios.ISIG))


def main():
    pagoda, guest = sys.argv[1:3]

    status, out, before, after, during = run(pagoda, guest, "echo",
                                             lambda m, p: (os.write(m, b"hi there."), read_until(m, b"echo done"))[1])
    check(is_raw(during), "terminal is raw while the guest runs")
    check(b"hi there" in out, "typed text reaches the guest and comes back once (no local echo)")
    check(status == 0, f"guest exit gives 0 (got {status})")
    check(after == before, "terminal restored after the guest exits")

    status, out, before, after, _ = run(pagoda, guest, "hang",
                                        lambda m, p: (os.write(m, b"\x01x"), b"")[1])
    check(status == 0, f"Ctrl-a x ends the VM with 0 (got {status})")
    check(b"Ctrl-a x" in out, "Ctrl-a x says why the VM ended")
    check(after == before, "terminal restored after Ctrl-a x")

    status, out, before, after, _ = run(pagoda, guest, "hang",
                                        lambda m, p: (time.sleep(0.5), p.send_signal(signal.SIGTERM), b"")[2])
    check(status == 128 + signal.SIGTERM, f"SIGTERM ends the VM with 143 (got {status})")
    check(after == before, "terminal restored after SIGTERM")

    status, out, before, after, _ = run(pagoda, guest, "hang",
                                        lambda m, p: (time.sleep(0.5), p.send_signal(signal.SIGSEGV), b"")[2])
    check(status == -signal.SIGSEGV, f"a crash still dies of its signal (got {status})")
    check(after == before, "terminal restored after a crash")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

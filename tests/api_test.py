#!/usr/bin/env python3
"""The control socket as a client sees it (pagoda run --api-sock): mode 0600, JSON
replies to every command, errors (not crashes) for bad JSON, unknown commands and
oversized lines, pause that really stops the guest, a dirty-rate measurement, balloon
targets, stop; a second VMM cannot take a live socket; a deferred answer never reaches a
client that took the slot of one that left; pause, resume and snapshot wait while a
migration owns the VM; a VMM out of descriptors says so to a client instead of spinning.
  api_test.py PAGODA MIGRATE_GUEST
"""
import json
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
import time

import state_stream


def request(path, line, timeout=30):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(line if isinstance(line, bytes) else line.encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    print(f"> {line[:80]!r}\n< {buf.decode().strip()[:300]}")
    return json.loads(buf)


def deferred_reply_stays_with_its_client(path, check):
    """A client asks for a 1 s dirty-rate window and leaves; the next client gets its
    connection slot and must not receive that answer."""
    a = socket.socket(socket.AF_UNIX)
    a.connect(path)
    a.sendall(b'{"cmd": "dirty-rate", "arg": "1"}\n')
    time.sleep(0.2)
    a.close()
    time.sleep(0.2)
    b = socket.socket(socket.AF_UNIX)
    b.connect(path)
    b.settimeout(2.0)
    try:
        stray = b.recv(65536)
    except socket.timeout:
        stray = b""
    check(stray == b"", f"another client's deferred answer arrived: {stray[:120]!r}")
    b.sendall(b'{"cmd": "stats"}\n')
    got = b""
    while not got.endswith(b"\n"):
        got += b.recv(65536)
    b.close()
    check('"vcpu_exits"' in got.decode(), f"stats answer: {got[:120]!r}")


def no_pause_during_migration(path, d, check):
    """A migration to a receiver that accepts and then stops reading: while it runs,
    pause, resume and snapshot are refused; once the receiver hangs up, the migration
    fails, the VM runs on and pause works again."""
    import threading
    mig = os.path.join(d, "mig.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(mig)
    srv.listen(1)
    conn = []

    def fake():
        conn.append(state_stream.accept_sender(srv))

    t = threading.Thread(target=fake)
    t.start()
    r = request(path, '{"cmd": "migrate", "arg": "unix:%s"}\n' % mig)
    t.join(10)
    check(r.get("ok") and r.get("state") == "running", f"migrate did not start: {r}")
    for cmd in ('{"cmd": "pause"}', '{"cmd": "resume"}', '{"cmd": "snapshot", "arg": "%s"}' % os.path.join(d, "s")):
        err = request(path, cmd + "\n").get("error", "")
        check("a migration is running" in err, f"{cmd} during a migration: {err or 'accepted'}")
    for c in conn:
        c.close()
    srv.close()
    for _ in range(100):
        if request(path, '{"cmd": "migrate-status"}\n').get("state") != "running":
            break
        time.sleep(0.1)
    check(request(path, '{"cmd": "migrate-status"}\n').get("state") == "failed", "the cut migration did not fail")
    check(request(path, '{"cmd": "pause"}\n').get("state") == "paused", "pause after the migration")
    check(request(path, '{"cmd": "resume"}\n').get("state") == "running", "resume after the migration")


def out_of_descriptors(path, pid, check):
    """The VMM at its descriptor limit (lowered under it with prlimit): a control
    connection is told why it cannot be served, and the main thread does not spin on the
    connection it cannot take (before: ctl timed out, the main thread at 100% CPU). With
    the limit back, the socket serves again."""
    import resource
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    main_stat = f"/proc/{pid}/task/{pid}/stat"  # the main thread's (the guest's vCPU works meanwhile)
    cpu0 = sum(int(x) for x in open(main_stat).read().rsplit(")", 1)[1].split()[11:13])
    used = {int(n) for n in os.listdir(f"/proc/{pid}/fd")}
    lowest_free = next(n for n in range(len(used) + 1) if n not in used)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))  # every number below it taken
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(15)
    try:
        c.connect(path)
        time.sleep(1)
        cpu1 = sum(int(x) for x in open(main_stat).read().rsplit(")", 1)[1].split()[11:13])
        ticks = os.sysconf("SC_CLK_TCK")
        print(f"main thread CPU in 1 s out of descriptors: {(cpu1 - cpu0) / ticks:.2f} s")
        check(cpu1 - cpu0 < ticks // 10, f"the main thread used {(cpu1 - cpu0) / ticks:.2f} s of CPU in 1 s out of descriptors")
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    # The connection made meanwhile is told why it was refused (the spare descriptor),
    # or served once the limit is back (the socket watched again after its backoff).
    try:
        c.sendall(b'{"cmd": "stats"}\n')
    except OSError:
        pass
    try:
        r = json.loads(c.makefile().readline())
        print(f"< {r}")
        check(r.get("ok") or "no file descriptor free" in r.get("error", ""), f"out of descriptors: {r}")
    except (OSError, ValueError) as e:
        check(False, f"out of descriptors: the connection got no answer ({e})")
    c.close()
    check(request(path, '{"cmd": "stats"}\n').get("ok"), "the socket does not serve once descriptors are back")


def main():
    pagoda, guest = sys.argv[1:3]
    d = tempfile.mkdtemp(prefix="pagoda-api-")
    path = os.path.join(d, "api.sock")
    out = open(os.path.join(d, "out"), "w+")
    vm = subprocess.Popen([pagoda, "run", "-k", guest, "--api-sock", path, "--balloon", "--virtio-transport", "mmio",
                           "--timeout", "120", "-p", "steps=0 tick=200"], stdout=out, stderr=subprocess.STDOUT)
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAIL: " + what)

    try:
        for _ in range(200):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        check(mode == 0o600, f"socket mode {oct(mode)}, expected 0o600")

        check(request(path, "{not json\n").get("error") == "bad JSON", "bad JSON not refused")
        check("unknown command" in request(path, '{"cmd": "reboot-the-world"}\n').get("error", ""), "unknown command not refused")
        check("no \"cmd\"" in request(path, '{"arg": "x"}\n').get("error", ""), "missing cmd not refused")
        # An oversized line, then a good one on the same connection: both answered.
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b'{"cmd": "' + b"x" * 6000 + b'"}\n{"cmd": "stats"}\n')
        s.settimeout(10)
        got = b""
        while got.count(b"\n") < 2:
            got += s.recv(65536)
        s.close()
        lines = got.decode().splitlines()
        check("longer than 4096" in lines[0] and '"ok": true' in lines[1], f"oversized line: {lines}")

        st = request(path, '{"cmd": "stats"}\n')
        check(st["ok"] and st["state"] == "running" and st["memory"]["size"] == 256 << 20 and
              st["memory"]["resident"] > 0 and len(st["vcpu_exits"]) == 1, "stats incomplete")

        check(request(path, '{"cmd": "pause"}\n').get("state") == "paused", "pause")
        out.flush()
        t0 = len(re.findall(r"^tick", open(out.name).read(), re.M))
        time.sleep(1.0)
        t1 = len(re.findall(r"^tick", open(out.name).read(), re.M))
        check(t0 == t1, f"the guest ran while paused ({t0} -> {t1} ticks)")
        check("already paused" in request(path, '{"cmd": "pause"}\n').get("error", ""), "double pause")
        check(request(path, '{"cmd": "resume"}\n').get("state") == "running", "resume")
        time.sleep(1.0)
        t2 = len(re.findall(r"^tick", open(out.name).read(), re.M))
        check(t2 > t1, "the guest did not run on after resume")

        r = request(path, '{"cmd": "dirty-rate", "arg": "0.5"}\n')
        check(r.get("ok") and r["pages"] > 0 and r["pages_per_s"] > 0, "dirty-rate measured nothing")
        check("window" in request(path, '{"cmd": "dirty-rate", "arg": "100"}\n').get("error", ""), "dirty-rate window not checked")

        r = request(path, '{"cmd": "balloon", "arg": "16M"}\n')
        check(r.get("ok") and r["target"] == 16 << 20, "balloon target")
        check("multiple of 4K" in request(path, '{"cmd": "balloon", "arg": "1G"}\n').get("error", ""), "balloon size not checked")
        check("paused first" in request(path, '{"cmd": "snapshot", "arg": "/tmp/x"}\n').get("error", ""), "snapshot of a running VM")

        err = request(path, '{"cmd": "migrate", "arg": "unix:/nonexistent", "mode": "sideways"}\n').get("error", "")
        check("'sideways' is not a mode: use precopy, postcopy or precopy-then-postcopy[=PASSES]" in err,
              f"a bad migration mode: {err}")
        err = request(path, '{"cmd": "migrate", "arg": "unix:/nonexistent", "mode": "precopy-then-postcopy=0"}\n').get("error", "")
        check("is not a mode" in err, f"hybrid with 0 passes: {err}")
        deferred_reply_stays_with_its_client(path, check)
        out_of_descriptors(path, vm.pid, check)
        no_pause_during_migration(path, d, check)

        # A second VMM on the same path is refused; the first keeps its socket.
        p2 = subprocess.run([pagoda, "run", "--api-sock", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        check(p2.returncode == 2 and b"another VMM is listening there" in p2.stdout, "second VMM took the socket")

        check(request(path, '{"cmd": "stop"}\n').get("state") == "stopping", "stop")
        rc = vm.wait(30)
        check(rc == 0, f"pagoda exited {rc} after stop")
        check(not os.path.exists(path), "the socket file is left behind")
    finally:
        if vm.poll() is None:
            vm.kill()
        print(open(out.name).read()[-2000:])
        subprocess.run(["rm", "-rf", d])
    return "; ".join(failures)


if __name__ == "__main__":
    why = main()
    sys.exit(1 if why else 0)

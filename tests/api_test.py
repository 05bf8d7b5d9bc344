#!/usr/bin/env python3
"""The control socket as a client sees it (pagoda run --api-sock): mode 0600, JSON
replies to every command, errors (not crashes) for bad JSON, unknown commands and
oversized lines, pause that really stops the guest, a dirty-rate measurement, balloon
targets, stop; a second VMM cannot take a live socket.
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


def main():
    pagoda, guest = sys.argv[1:3]
    d = tempfile.mkdtemp(prefix="pagoda-api-")
    path = os.path.join(d, "api.sock")
    out = open(os.path.join(d, "out"), "w+")
    vm = subprocess.Popen([pagoda, "run", "-k", guest, "--api-sock", path, "--balloon", "--timeout", "120",
                           "-p", "steps=0 tick=200"], stdout=out, stderr=subprocess.STDOUT)
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

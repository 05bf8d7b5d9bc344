#!/usr/bin/env python3
"""virtio-blk as a user sees it: the tiny guest's writes land in the image file, a
read-only image refuses writes and stays unchanged, bad images are refused at start.

  virtio_blk_test.py PAGODA GUEST_ELF CASE
  CASE: rw | rw-sync | rw-direct | ro | bad-size | missing | not-a-file
"""
import os
import struct
import subprocess
import sys
import tempfile

SEED = 0x9e3779b97f4a7c15
SECTORS = 2048


def run(pagoda, guest, disk_arg, params=""):
    cmd = [pagoda, "run", "--timeout", "120", "-k", guest, "--disk", disk_arg, "--stats",
           "--virtio-transport", "mmio"]
    if params:
        cmd += ["-p", params]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    out = p.stdout.decode(errors="replace")
    print(out)
    return p.returncode, out


def check_pattern(path):
    with open(path, "rb") as f:
        data = f.read(SECTORS * 512)
    for s in range(SECTORS):
        for w in range(64):
            v = struct.unpack_from("<Q", data, s * 512 + w * 8)[0]
            want = 0 if s < 8 else (SEED * (s * 64 + w + 1)) & (2**64 - 1)
            if v != want:
                return f"sector {s} word {w} holds {v:#x}, expected {want:#x}"
    return None


def main():
    pagoda, guest, case = sys.argv[1:4]
    # /var/tmp: a disk file system (O_DIRECT works there, unlike tmpfs)
    d = tempfile.mkdtemp(dir="/var/tmp", prefix="pagoda-blk-")
    img = os.path.join(d, "disk.img")
    try:
        if case in ("rw", "rw-sync", "rw-direct"):
            with open(img, "wb") as f:
                f.truncate(8 << 20)
            opt = {"rw": "", "rw-sync": ",io=sync", "rw-direct": ",cache=none"}[case]
            rc, out = run(pagoda, guest, img + opt)
            if rc != 0:
                return f"exit {rc}, expected 0"
            bad = check_pattern(img)
            if bad:
                return "image after the guest's writes: " + bad
            if "discarded sectors 0-7" not in out or "serial: pagoda-vda" not in out:
                return "guest did not report discard and serial"
            print("image holds the guest's pattern, sectors 0-7 punched out")
            return None
        if case == "ro":
            with open(img, "wb") as f:
                f.write(b"\xab" * (1 << 20))
            rc, out = run(pagoda, guest, img + ",ro", "ro=1")
            if rc != 0 or "write status 1, read status 0" not in out:
                return f"exit {rc}: the read-only disk did not refuse the write"
            with open(img, "rb") as f:
                if f.read() != b"\xab" * (1 << 20):
                    return "the read-only image changed"
            return None
        expect = {"bad-size": "is not a multiple of 512", "missing": "No such file or directory",
                  "not-a-file": "not a regular file or a block device"}[case]
        if case == "bad-size":
            with open(img, "wb") as f:
                f.write(b"x" * 1000)
        target = {"bad-size": img, "missing": img + ".nope", "not-a-file": d}[case]
        rc, out = run(pagoda, guest, target)
        if rc != 2 or expect not in out:
            return f"exit {rc}, expected 2 with '{expect}'"
        return None
    finally:
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    why = main()
    if why:
        print("FAIL: " + why)
    sys.exit(1 if why else 0)

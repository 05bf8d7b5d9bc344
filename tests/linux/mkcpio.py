#!/usr/bin/env python3
"""Writes a newc cpio initramfs: /init (the given static binary), /proc, /sys, /dev and
the /dev/console node init's output needs. No cpio tool, no root needed.
  mkcpio.py INIT OUTPUT"""
import os
import sys


def entry(name, mode, data=b"", rdev=(0, 0), ino=[1]):
    ino[0] += 1
    hdr = "070701" + "".join(f"{v:08x}" for v in (
        ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0))
    out = hdr.encode() + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4) + data
    return out + b"\0" * (-len(out) % 4)


def main():
    init, output = sys.argv[1:3]
    data = open(init, "rb").read()
    parts = [entry(d, 0o40755) for d in ("dev", "proc", "sys", "tmp")]
    parts.append(entry("dev/console", 0o20600, rdev=(5, 1)))
    parts.append(entry("init", 0o100755, data))
    parts.append(entry("TRAILER!!!", 0))
    blob = b"".join(parts)
    blob += b"\0" * (-len(blob) % 512)
    with open(output + ".tmp", "wb") as f:
        f.write(blob)
    os.replace(output + ".tmp", output)


if __name__ == "__main__":
    main()

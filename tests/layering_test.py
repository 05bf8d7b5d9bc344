#!/usr/bin/env python3
"""The floors of the house (docs/ARCHITECTURE.md): util, then mem and devices, then arch
and virtio, then vmm's core, persistence, control and front end. A file may include its
own folder and folders of lower floors, never a higher floor or a neighbour on its own
(virtio and arch do not know each other).
Reads every #include "..." of the C sources and fails naming each one that breaks this.
  layering_test.py SOURCE_ROOT
"""
import os
import re
import sys

FLOORS = {"util": 0, "mem": 1, "devices": 1, "arch/x86": 2, "arch/arm64": 2, "virtio": 2,
          "vmm/core": 3, "vmm/persist": 4, "vmm/control": 5, "vmm/front": 6}


def room(path, root):
    """The folder of FLOORS a path lies in, or None (tests, tools: above every floor)."""
    rel = os.path.relpath(path, root)
    for r in sorted(FLOORS, key=len, reverse=True):
        if rel == r or rel.startswith(r + "/"):
            return r
    return None


def main():
    root = os.path.abspath(sys.argv[1])
    bad, files, includes = [], 0, 0
    for r in FLOORS:
        for dirpath, _, names in os.walk(os.path.join(root, r)):
            for n in sorted(names):
                if not n.endswith((".c", ".h")):
                    continue
                src = os.path.join(dirpath, n)
                files += 1
                for lineno, line in enumerate(open(src, errors="replace"), 1):
                    m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                    if not m:
                        continue
                    includes += 1
                    target = os.path.normpath(os.path.join(dirpath, m.group(1)))
                    to = room(target, root)
                    here = room(src, root)
                    if to is None or (to != here and FLOORS[to] >= FLOORS[here]):
                        bad.append(f"{os.path.relpath(src, root)}:{lineno}: {here} includes {m.group(1)} ({to or 'outside the floors'})")
    print(f"{files} files, {includes} includes checked")
    for b in bad:
        print("FAIL: " + b)
    return 1 if bad or files < 50 else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes a C file holding a binary as a byte array (the demo guest inside pagoda).
A generated C file, unlike .incbin, lets the build see the dependency on the binary."""
import sys

src, out, sym = sys.argv[1:4]
data = open(src, "rb").read()
with open(out, "w") as f:
    f.write("#include <stddef.h>\n#include <stdint.h>\n")
    f.write(f"const uint8_t {sym}[{len(data)}] __attribute__((aligned(16))) = {{\n")
    for i in range(0, len(data), 16):
        f.write(" " + "".join(f"0x{b:02x}," for b in data[i:i + 16]) + "\n")
    f.write("};\n")
    f.write(f"const size_t {sym}_size = {len(data)};\n")

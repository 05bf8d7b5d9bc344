#!/usr/bin/env python3
"""Snapshots and migration streams crafted as an attacker would, CRC and all: each must be
refused with exit 2 (or a failed migration) and a message that says what is wrong,
promptly, before any of it reaches the VM; the snapshot writer must not follow links.

  hostile_state_test.py PAGODA MIGRATE_GUEST CASE
  CASE: cmos-index | duplicate-vcpu | virtio-features | virtio-pci-readonly | virtio-pci-transport |
        virtio-pci-wild | zero-vcpus | huge-state | fifo-state | symlink-tmp | symlink-dir |
        incoming-huge-state | incoming-sandboxed | incoming-bad-hint | incoming-bad-channels
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

import state_stream as ss
from migration_test import VM, ctl


def take_snapshot(pagoda, guest, d, cpus=1, extra=()):
    sock, snap = os.path.join(d, "api.sock"), os.path.join(d, "snap")
    src = VM([pagoda, "run", "-k", guest, "-c", str(cpus), "--api-sock", sock, "--timeout", "120", "-p", "steps=0"]
             + list(extra))
    if not src.wait_for(r"^tick 1 verified"):
        raise RuntimeError("the guest never reached tick 1: " + src.text())
    for c in (["pause"], ["snapshot", snap], ["stop"]):
        ctl(pagoda, sock, *c)
    src.finish()
    return snap


def restore_refused(pagoda, snap, expect, timeout=30, extra=()):
    try:
        p = subprocess.run([pagoda, "restore", snap, "--timeout", "20"] + list(extra), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"restore hung for {timeout} s"
    out = p.stdout.decode(errors="replace")
    print(f"restore: exit {p.returncode}: {out.strip()}")
    if p.returncode != 2 or expect not in out or "tick" in out:
        return f"exit {p.returncode}, expected 2 with '{expect}' and no guest output"
    return None


def rewrite_state(snap, change):
    path = os.path.join(snap, "state")
    recs = ss.parse(open(path, "rb").read())
    change(recs)
    open(path, "wb").write(ss.build(recs))


def cmos_index(pagoda, guest, d):
    """An RTC record whose index is past the 128 CMOS bytes: every guest access to port
    0x71 would read or write host memory behind them."""
    snap = take_snapshot(pagoda, guest, d)

    def bad_index(recs):
        rtc = ss.find(recs, ss.REC_RTC)[0]
        rtc[1] = b"\xbf" + rtc[1][1:]
    rewrite_state(snap, bad_index)
    return restore_refused(pagoda, snap, "CMOS state names register 0xbf of 128")


def duplicate_vcpu(pagoda, guest, d):
    """Two records for vCPU 0 and none for vCPU 1: vCPU 1 would run as it was created."""
    snap = take_snapshot(pagoda, guest, d, cpus=2)

    def dup(recs):
        vcpus = ss.find(recs, ss.REC_X86_VCPU)
        vcpus[1][1] = vcpus[0][1]
    rewrite_state(snap, dup)
    return restore_refused(pagoda, snap, "the state has vCPU 0 twice")


MMIO = ["--rng", "--virtio-transport", "mmio"]


def virtio_features(pagoda, guest, d):
    """A virtio device whose saved driver accepted every feature bit, offered or not."""
    snap = take_snapshot(pagoda, guest, d, extra=MMIO)

    def all_features(recs):
        v = ss.find(recs, ss.REC_VIRTIO)[0]
        v[1] = v[1][:20] + b"\xff" * 8 + v[1][28:]  # u32 index, then driver_features at 16
    rewrite_state(snap, all_features)
    return restore_refused(pagoda, snap, "virtio-rng: the saved driver accepted features this device does not offer",
                           extra=MMIO)


PCI = ["--rng", "--virtio-transport", "pci"]
REC_VIRTIO_PCI = 5
# In a REC_VIRTIO_PCI payload: u32 index, then struct virtio_pci_state (virtio/pci.h).
PCI_CFG, PCI_QUEUE_SEL, PCI_CONFIG_VECTOR, PCI_MSIX, PCI_PENDING = 4, 268, 270, 280, 360


def patch(b, off, data):
    return b[:off] + data + b[off + len(data):]


def virtio_pci_readonly(pagoda, guest, d):
    """A PCI function whose saved config header has another device ID: the read-only bits
    are the device's, not the file's."""
    snap = take_snapshot(pagoda, guest, d, extra=PCI)

    def other_device(recs):
        v = ss.find(recs, REC_VIRTIO_PCI)[0]
        v[1] = patch(v[1], PCI_CFG + 2, struct.pack("<H", 0x1041))
    rewrite_state(snap, other_device)
    return restore_refused(pagoda, snap, "virtio-rng: its saved PCI config space differs from this device's in read-only bits",
                           extra=PCI)


def virtio_pci_transport(pagoda, guest, d):
    """A snapshot of PCI devices restored as virtio-mmio, and one whose PCI records were
    cut out restored on PCI: both refused, naming the option."""
    snap = take_snapshot(pagoda, guest, d, extra=PCI)
    why = restore_refused(pagoda, snap, "this VM has --virtio-transport mmio", extra=MMIO)
    if why:
        return why
    rewrite_state(snap, lambda recs: recs.__setitem__(slice(None), [r for r in recs if r[0] != REC_VIRTIO_PCI]))
    return restore_refused(pagoda, snap, "the state's virtio devices are not on PCI", extra=PCI)


def virtio_pci_wild(pagoda, guest, d):
    """Writable PCI state at its wildest: vectors and a queue selector past every table,
    every pending bit, every MSI-X control bit, MSI-X messages to nowhere. Taken as a
    driver's writes would be (vectors become NO_VECTOR, the rest masked to what exists):
    the guest runs on."""
    snap = take_snapshot(pagoda, guest, d, extra=PCI)

    def wild(recs):
        v = ss.find(recs, REC_VIRTIO_PCI)[0]
        b = patch(v[1], PCI_QUEUE_SEL, struct.pack("<HH4H", 0xffff, 0x7777, 9, 0x100, 0xfffe, 5))
        b = patch(b, PCI_MSIX, struct.pack("<IIII", 0x12345678, 0xffffffff, 0, 0xffffffff) * 5)
        v[1] = patch(b, PCI_PENDING, b"\xff" * 8)
    rewrite_state(snap, wild)
    dst = VM([pagoda, "restore", snap, "--timeout", "20"] + PCI)
    ok = dst.wait_for(r"^tick \d+ verified", 20)
    dst.p.kill()
    dst.finish()
    print(dst.text())
    return None if ok and "FAIL" not in dst.text() else "the guest did not run on after wild PCI state: " + dst.text()


def zero_vcpus(pagoda, guest, d):
    snap = take_snapshot(pagoda, guest, d)
    rewrite_state(snap, lambda recs: ss.set_header_u32(recs, ss.HEADER_NR_VCPUS, 0))
    return restore_refused(pagoda, snap, "VM state header is corrupted (0 vCPUs")


def huge_state(pagoda, guest, d):
    """A state file of 4 GiB (sparse): refused from its size, not read into memory."""
    snap = take_snapshot(pagoda, guest, d)
    os.truncate(os.path.join(snap, "state"), 4 << 30)
    return restore_refused(pagoda, snap, "more than any state of 1 vCPUs")


def fifo_state(pagoda, guest, d):
    """A FIFO where the state should be: opening it must not wait for a writer."""
    snap = take_snapshot(pagoda, guest, d)
    os.unlink(os.path.join(snap, "state"))
    os.mkfifo(os.path.join(snap, "state"))
    return restore_refused(pagoda, snap, "not a regular file", timeout=15)


def symlink_tmp(pagoda, guest, d):
    """A link planted where the snapshot writes its temporary file must not be followed:
    the file it points to stays as it was and the snapshot is still whole."""
    snap = os.path.join(d, "snap")
    os.makedirs(snap)
    victim = os.path.join(d, "victim")
    open(victim, "wb").write(b"precious\n")
    for name in ("state", "memory"):
        os.symlink(victim, os.path.join(snap, f".{name}.tmp"))
    sock = os.path.join(d, "api.sock")
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "120", "-p", "steps=0"])
    if not src.wait_for(r"^tick 1 verified"):
        return "the guest never reached tick 1"
    rc = [ctl(pagoda, sock, *c)[0] for c in (["pause"], ["snapshot", snap], ["stop"])]
    src.finish()
    if open(victim, "rb").read() != b"precious\n":
        return "the snapshot wrote through the planted link"
    if rc[1] != 0 or os.path.islink(os.path.join(snap, "state")) or not os.path.getsize(os.path.join(snap, "state")):
        return f"snapshot exit {rc[1]}: no whole snapshot beside the planted links"
    return None


def symlink_dir(pagoda, guest, d):
    """A snapshot directory that is itself a link (planted where the user snapshots to) is
    refused, saying so, and nothing is written where it points; before, the snapshot was
    written through it."""
    target = os.path.join(d, "elsewhere")
    os.makedirs(target)
    snap = os.path.join(d, "snap")
    os.symlink(target, snap)
    sock = os.path.join(d, "api.sock")
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "120", "-p", "steps=0"])
    if not src.wait_for(r"^tick 1 verified"):
        return "the guest never reached tick 1"
    rc, out = ctl(pagoda, sock, "pause")[0], ctl(pagoda, sock, "snapshot", snap)[1]
    ctl(pagoda, sock, "stop")
    src.finish()
    print(out)
    if os.listdir(target):
        return f"the snapshot was written through the link: {os.listdir(target)}"
    if "a symbolic link or not a directory" not in out:
        return "the refusal does not say why"
    return None


def connect_past_hello(pagoda, guest, d):
    """A receiver, and a fake sender past the header check: (receiver, connection)."""
    snap = take_snapshot(pagoda, guest, d)
    header = ss.find(ss.parse(open(os.path.join(snap, "state"), "rb").read()), ss.REC_HEADER)[0][1]
    path = os.path.join(d, "in.sock")
    dst = VM([pagoda, "run", "--incoming", "unix:" + path, "--timeout", "60"])
    if not dst.wait_for("waiting for a migration"):
        raise RuntimeError("the receiver did not start")
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    ss.read_greeting(c)
    c.sendall(struct.pack("<II", ss.MIG_HELLO, len(header)) + header)
    c.recv(264, socket.MSG_WAITALL)
    return dst, c


def refused(dst, c, what, expect):
    rc = dst.finish(timeout=15)
    c.close()
    if rc is None:
        return f"the receiver waited on after {what}"
    print(dst.text())
    if rc == 0 or expect not in dst.text():
        return f"receiver exit {rc}: expected a refusal saying '{expect}'"
    return None


def incoming_huge_state(pagoda, guest, d):
    """A peer that passes the header check and announces a 4 GiB state record: the
    receiver refuses at once instead of allocating it and waiting for the bytes."""
    dst, c = connect_past_hello(pagoda, guest, d)
    c.sendall(struct.pack("<II", ss.MIG_STATE, 0xFFFFFFF0))
    return refused(dst, c, "a 4 GiB state record", "larger than any of 1 vCPUs")


def incoming_bad_hint(pagoda, guest, d):
    """Populate hints are advice, yet checked like page records: a pass's hint and pages
    inside RAM are acknowledged at the pass's end; a hint past the end of RAM ends the
    migration instead of faulting memory outside the guest's."""
    dst, c = connect_past_hello(pagoda, guest, d)
    c.sendall(struct.pack("<IIQQ", ss.MIG_HINT, 16, 1 << 20, 2 << 20) +
              struct.pack("<IIQII", ss.MIG_PAGES, 16, 1 << 20, 256, 1) +
              struct.pack("<III", ss.MIG_PASS_END, 4, 0))
    try:
        ack = c.recv(12, socket.MSG_WAITALL)
    except ConnectionResetError:
        ack = b""
    if ack != struct.pack("<III", ss.MIG_PASS_END, 4, 0):
        c.close()
        dst.finish(timeout=15)
        print(dst.text())
        return f"the receiver did not acknowledge pass 0: {ack!r}"
    c.sendall(struct.pack("<IIQQ", ss.MIG_HINT, 16, 64 << 30, 2 << 20))
    return refused(dst, c, "a hint outside RAM", "bad hint record (gpa 0x1000000000")


def join(path, index, token):
    """Another connection of a fake sender: greeted (no key), then joins as index."""
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    ss.read_greeting(c)
    c.sendall(struct.pack("<III", ss.MIG_JOIN, 20, index) + token)
    return c


def incoming_bad_channels(pagoda, guest, d):
    """Several channels (--migration-channels): a peer that joins with another token is
    dropped and the receiver waits on for the real one; a channel that sends pages of
    another channel's chunk ends the migration at once, saying which channel.
    A count past the limit is refused at once, and a sender that leaves while its
    channels are awaited is not waited for (30 s per channel)."""
    dst, c = connect_past_hello(pagoda, guest, d)
    path = os.path.join(d, "in.sock")
    token = os.urandom(16)
    c.sendall(struct.pack("<III", ss.MIG_CHANNELS, 20, 2) + token)
    stray = join(path, 1, bytes(16))
    if not dst.wait_for("a peer did not join this migration .*: dropped", 15):
        return "the receiver did not drop a peer with another migration's token: " + dst.text()
    stray.close()
    c2 = join(path, 1, token)
    ok = c.recv(264, socket.MSG_WAITALL)
    if struct.unpack_from("<III", ok) != (ss.MIG_REPLY, 256, 1):
        return f"the receiver did not accept the second channel: {ok[:12]!r}"
    # chunk 0 (the first 2 MiB) is channel 1's of 2, not channel 2's: refused at once,
    # without waiting for the first channel's end of pass 0
    c2.sendall(struct.pack("<IIQII", ss.MIG_PAGES, 16, 0, 1, 1))
    why = refused(dst, c, "pages on the wrong channel", "channel 2 of 2: page record on the wrong channel")
    c2.close()
    if why:
        return why
    dst, c = connect_past_hello(pagoda, guest, d)
    c.sendall(struct.pack("<III", ss.MIG_CHANNELS, 20, 9) + token)
    why = refused(dst, c, "9 channels", "refused 9 channels: give 2 to 8")
    if why:
        return why
    # a sender that asks for channels and leaves: the receiver stops waiting for them
    dst, c = connect_past_hello(pagoda, guest, d)
    c.sendall(struct.pack("<III", ss.MIG_CHANNELS, 20, 3) + token)
    c.shutdown(socket.SHUT_WR)
    return refused(dst, c, "a sender gone while its channels were awaited",
                   "the sender's first connection ended or spoke out of turn")


def incoming_sandboxed(pagoda, guest, d):
    """A receiver waiting for its first byte already runs under a seccomp filter: the
    stream is parsed inside the sandbox, not before it."""
    path = os.path.join(d, "in.sock")
    dst = VM([pagoda, "run", "--incoming", "unix:" + path, "--timeout", "30"])
    try:
        if not dst.wait_for("waiting for a migration"):
            return "the receiver did not start"
        status = open(f"/proc/{dst.p.pid}/status").read()
        mode = re.search(r"^Seccomp:\s+(\d+)", status, re.M).group(1)
        print(f"receiver: Seccomp {mode}")
        return None if mode == "2" else f"the receiver waits for the stream with seccomp mode {mode}, not 2 (filter)"
    finally:
        dst.p.kill()
        dst.finish()


CASES = {"cmos-index": cmos_index, "duplicate-vcpu": duplicate_vcpu, "zero-vcpus": zero_vcpus,
         "virtio-features": virtio_features, "virtio-pci-readonly": virtio_pci_readonly,
         "virtio-pci-transport": virtio_pci_transport, "virtio-pci-wild": virtio_pci_wild,
         "huge-state": huge_state, "fifo-state": fifo_state, "symlink-tmp": symlink_tmp,
         "symlink-dir": symlink_dir,
         "incoming-huge-state": incoming_huge_state, "incoming-sandboxed": incoming_sandboxed,
         "incoming-bad-hint": incoming_bad_hint, "incoming-bad-channels": incoming_bad_channels}


def main():
    pagoda, guest, case = sys.argv[1:4]
    d = tempfile.mkdtemp(prefix="pagoda-hostile-state-")
    try:
        return CASES[case](pagoda, guest, d)
    except RuntimeError as e:
        return str(e)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    why = main()
    if why:
        print("FAIL: " + why)
    sys.exit(1 if why else 0)

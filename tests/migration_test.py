#!/usr/bin/env python3
"""Snapshot, restore and live migration as a user sees them, with the migrate test guest
(tests/guests/migrate.c): its ticks must run on in order across the move, none lost or
repeated, every page verified after it, and the VM must end normally where it landed.

  migration_test.py PAGODA GUEST CASE
  migration_test.py --list      the cases (CASES below), each with the guest it takes
"""
import contextlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import state_stream
from memory_test import grow_pool, pool_path

STEPS = "steps=14000"
# A moved guest runs until the test ends it (a byte on its console) once the move is over:
# with a fixed number of steps a host that runs guests fast or moves pages slowly ended it
# on the source in the middle of the move (seen in CI: pass 0 at 7 MiB/s).
UNTIL_ENDED = "steps=0 input=1"


def finished(text):
    """The guest said it ended with every page verified."""
    return re.search(r"^done: \d+ steps, every page verified", text, re.M)


class VM:
    """A pagoda process; its console (stdout) and its own words (stderr) are kept apart, so
    a message printed at a move cannot cut the guest's line in two."""
    def __init__(self, args, prefix=()):
        self.cmd = list(prefix) + args
        print("$ " + " ".join(self.cmd), flush=True)
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        # stdin unbuffered: a byte for a VM that is gone must fail where it is written,
        # not again when the pipe is closed.
        self.p = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=self.out, stderr=self.err, bufsize=0)

    @staticmethod
    def _read(f):
        # pread: the child shares this file's offset, a seek here would move its writes
        # (seen: a console byte landing at offset 0).
        fd = f.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def console(self):
        return self._read(self.out)

    def text(self):
        """The console, then pagoda's messages."""
        return self.console() + "\n" + self._read(self.err)

    def wait_for(self, rx, timeout=60):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if re.search(rx, self.text(), re.M):
                return True
            if self.p.poll() is not None:
                return bool(re.search(rx, self.text(), re.M))
            time.sleep(0.05)
        return False

    def end_guest(self):
        """A byte on the console: a guest started with input=1 ends after its next tick."""
        try:
            self.p.stdin.write(b"q")
        except (BrokenPipeError, ValueError):
            pass  # the VM is gone already (moved away, or failed)

    def finish(self, timeout=120):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None
        finally:
            self.p.stdin.close()


def ctl(pagoda, sock, *args, prefix=()):
    cmd = list(prefix) + [pagoda, "ctl", sock] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = p.stdout.decode(errors="replace").strip()
    print(f"$ {' '.join(cmd)}\n{out}\n[exit {p.returncode}]", flush=True)
    return p.returncode, out


def ticks(text):
    return [int(t) for t in re.findall(r"^tick (\d+) verified", text, re.M)]


def check_continuity(src, dst):
    """The ticks of the first VM then the second: 1, 2, ... with no gap, no repeat. The two
    consoles joined are one stream: a line the move cut goes on at the destination."""
    before, after = src.console(), dst.console()
    seq = ticks(before + after)
    print(f"ticks: {ticks(before)[-3:]} | {ticks(after)[:3]} ... {len(seq)} in all")
    if len(seq) <= len(ticks(before)):
        return "the guest printed no tick after the move"
    if seq != list(range(1, len(seq) + 1)):
        return f"ticks out of order across the move: ...{ticks(before)[-2:]} then {ticks(after)[:2]}..."
    if "FAIL" in before + after:
        return "the guest reported a failure"
    if not finished(after):
        return "the guest did not finish where it landed"
    return None


def snapshot_taken(pagoda, guest, d, tick=3, steps=STEPS):
    """The migrate guest run to `tick`, paused, saved to d/snap and stopped: (the source,
    the snapshot's directory), or what went wrong."""
    sock, snap = os.path.join(d, "snap-api.sock"), os.path.join(d, "snap")
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "120", "-p", steps])
    if not src.wait_for(rf"^tick {tick} verified"):
        src.finish()
        return f"the guest never reached tick {tick}"
    for c in (["pause"], ["snapshot", snap], ["stop"]):
        rc, out = ctl(pagoda, sock, *c)
        if rc:
            src.finish()
            return f"ctl {c[0]} failed: {out}"
    src.finish()
    return src, snap


def snapshot(pagoda, guest, d, restore_args=()):
    r = snapshot_taken(pagoda, guest, d)
    if isinstance(r, str):
        return r
    src, snap = r
    dst = VM([pagoda, "restore", snap, "--timeout", "120", "--stats"] + list(restore_args))
    rc = dst.finish()
    print(src.text() + "----\n" + dst.text())
    if rc != 0:
        return f"restore exited {rc}"
    return check_continuity(src, dst) or lazy_reported(restore_args, dst.text())


def snapshot_cow_shared(pagoda, guest, d):
    """Two VMs restored copy-on-write from one snapshot share its unchanged pages through
    the page cache: while both run, each one's stats show shared bytes and a proportional
    share (PSS) below its resident bytes; both then go on from the snapshot's point."""
    import json
    r = snapshot_taken(pagoda, guest, d)
    if isinstance(r, str):
        return r
    src, snap = r
    socks = [os.path.join(d, f"fork{i}.sock") for i in range(2)]
    forks = [VM([pagoda, "restore", snap, "--restore-memory", "cow", "--memory-backend", "anon", "--api-sock", s,
                 "--timeout", "120"]) for s in socks]
    try:
        last = max(ticks(src.text()))
        for f in forks:
            if not f.wait_for(rf"^tick {last + 2} verified"):
                return "a restored VM did not run on: " + f.text()
        for s in socks:
            rc, out = ctl(pagoda, s, "stats")
            mem = json.loads(out)["memory"]
            print(mem)
            if not (mem["shared"] > 0 and mem["pss"] < mem["resident"] and mem["private"] < mem["resident"]):
                return f"a VM restored copy-on-write beside another shares nothing with it: {mem}"
    finally:
        for s in socks:
            ctl(pagoda, s, "stop")
        for f in forks:
            f.finish()
    return None


def lazy_reported(restore_args, text):
    """A lazy restore says when all memory was in place, and how much it read."""
    if "lazy" in restore_args and not re.search(r"restore: all memory in place: [\d.]+ MiB read", text):
        return "the lazy restore did not say all memory arrived"
    return None


def snapshot_lazy_hugetlb(pagoda, guest, d):
    """A lazy restore into hugetlb: whole 2 MiB pages, each mapped once complete."""
    with hugetlb_2m(128) as ok:
        if not ok:
            print("SKIP: the host has not 128 free 2 MiB pages")
            return 77
        return snapshot(pagoda, guest, d, ["--restore-memory", "lazy", "--memory-backend", "hugetlb",
                                           "--hugepage-size", "2M"])


def cycles(text):
    return [int(t) for t in re.findall(r"^cycle (\d+) ok", text, re.M)]


def virtio_move(pagoda, guest, d, how, pci=False):
    """The polling virtio-blk guest (write, flush, read back, verify, forever) with an rng
    beside it moves mid-run, device and driver state included; the destination uses the
    same image: its cycles must go on, in order, verified. With pci: the virtio-pci guest
    (rng requests, each answered by an MSI-X interrupt) moves, its BAR, MSI-X table and
    vectors with it."""
    img = os.path.join(d, "disk.img")
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    sock, snap = os.path.join(d, "api.sock"), os.path.join(d, "snap")
    devs = ["--rng", "--virtio-transport", "pci"] if pci else ["--disk", img, "--rng", "--virtio-transport", "mmio"]
    uri = "unix:" + os.path.join(d, "mig.sock")
    if how == "migrate":
        dst = VM([pagoda, "run", "--incoming", uri, "--timeout", "60"] + devs)
        dst.wait_for("waiting for a migration")
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "60", "-p", "loop=1 count=256"] + devs)
    if not src.wait_for(r"^cycle 3 ok"):
        return "the guest never reached cycle 3: " + src.text()
    if how == "migrate":
        rc, out = ctl(pagoda, sock, "migrate", uri)
        if rc:
            return "migration failed: " + out
    else:
        for c in (["pause"], ["snapshot", snap], ["stop"]):
            rc, out = ctl(pagoda, sock, *c)
            if rc:
                return f"ctl {c[0]} failed: {out}"
        dst = VM([pagoda, "restore", snap, "--timeout", "60"] + devs)
    src.finish()
    last = cycles(src.console())
    dst.wait_for(r"^cycle %d ok" % ((last[-1] if last else 0) + 3), 60)
    dst.p.kill()
    dst.finish()
    print(src.text() + "----\n" + dst.text())
    # The consoles joined: a line the guest was writing when it moved ends on the other side.
    seq = cycles(src.console() + dst.console())
    if len(cycles(dst.console())) < 2 or seq != list(range(1, len(seq) + 1)) or "FAIL" in dst.text():
        return f"cycles across the move: ...{cycles(src.console())[-2:]} then {cycles(dst.console())[:3]}"
    return None


def disk_kib(path):
    return os.stat(path).st_blocks // 2


def snapshot_diff(pagoda, guest, d, restore_args=()):
    """A full snapshot, the guest runs on, a diff snapshot: the diff holds only what was
    dirtied in between, and restoring it (through its parent) continues the guest."""
    sock = os.path.join(d, "api.sock")
    full, diff = os.path.join(d, "full"), os.path.join(d, "diff")
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "120", "-p", STEPS])
    steps = [(r"^tick 2 verified", [["pause"], ["snapshot", full], ["resume"]]),
             (r"^tick 4 verified", [["pause"], ["snapshot", diff, "diff"], ["stop"]])]
    for rx, cmds in steps:
        if not src.wait_for(rx):
            return "the guest did not reach " + rx
        for c in cmds:
            rc, out = ctl(pagoda, sock, *c)
            if rc:
                return f"ctl {' '.join(c)} failed: {out}"
    src.finish()
    kf, kd = disk_kib(os.path.join(full, "memory")), disk_kib(os.path.join(diff, "memory"))
    print(f"memory on disk: full {kf} KiB, diff {kd} KiB")
    if kd * 4 > kf:
        return f"the diff ({kd} KiB) is not much smaller than the full snapshot ({kf} KiB)"
    dst = VM([pagoda, "restore", diff, "--timeout", "120"] + list(restore_args))
    rc = dst.finish()
    print(src.text() + "----\n" + dst.text())
    if rc != 0:
        return f"restore of the diff exited {rc}"
    why = check_continuity(src, dst) or lazy_reported(restore_args, dst.text())
    if why:
        return why
    shutil.rmtree(full)
    p = subprocess.run([pagoda, "restore", diff] + list(restore_args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode(errors="replace")
    print(out)
    if p.returncode != 2 or "snapshot" not in out:
        return f"a diff without its parent: exit {p.returncode}, expected 2 naming the snapshot"
    return None


def snapshot_with_share(pagoda, guest, d):
    """A VM with a shared directory cannot be saved or moved: the server's open files are
    host state. Snapshot and migration are refused with the reason and the VM runs on."""
    sock, snap = os.path.join(d, "api.sock"), os.path.join(d, "snap")
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "60", "-p", "steps=0", "--fs", d])
    if not src.wait_for(r"^tick 1 verified"):
        return "the guest never reached tick 1: " + src.text()
    rc, out = ctl(pagoda, sock, "snapshot", snap)
    print(f"snapshot: exit {rc}: {out}")
    mrc, mout = ctl(pagoda, sock, "migrate", "unix:" + os.path.join(d, "mig.sock"))
    print(f"migrate: exit {mrc}: {mout}")
    n = len(ticks(src.console()))
    ran_on = src.wait_for(r"^tick %d verified" % (n + 1), 30)
    ctl(pagoda, sock, "stop")
    src.finish()
    if rc == 0 or "cannot be saved or moved" not in out or os.path.exists(os.path.join(snap, "state")):
        return "a snapshot of a VM with a share was not refused with the reason"
    if mrc == 0 or "cannot be saved or moved" not in mout:
        return "a migration of a VM with a share was not refused with the reason"
    return None if ran_on else "the VM did not run on after the refused snapshot: " + src.text()


def snapshot_refused(pagoda, guest, d):
    r = snapshot_taken(pagoda, guest, d, tick=1, steps="steps=0")
    if isinstance(r, str):
        return r
    src, snap = r
    state = open(os.path.join(snap, "state"), "rb").read()
    cases = {
        "truncated state": (lambda: state[: len(state) // 2], "state", "truncated or corrupted"),
        "corrupted state": (lambda: state[:600] + bytes([state[600] ^ 0xff]) + state[601:], "state", "truncated or corrupted"),
        "other version": (lambda: state[:16] + b"\x63" + state[17:], "state", "VM state version 99"),
        "truncated memory": (None, "memory", "truncated or not this snapshot"),
    }
    failures = []
    for name, (make, fname, expect) in cases.items():
        bad = os.path.join(d, "bad")
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(snap, bad)
        if make:
            open(os.path.join(bad, fname), "wb").write(make())
        else:
            os.truncate(os.path.join(bad, fname), 1 << 20)
        p = subprocess.run([pagoda, "restore", bad, "--timeout", "30"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode(errors="replace")
        print(f"{name}: exit {p.returncode}: {out.strip()}")
        if p.returncode != 2 or expect not in out or "tick" in out:
            failures.append(f"{name}: exit {p.returncode}, expected 2 with '{expect}'")
    return "; ".join(failures) or None


def migrate(pagoda, guest, d, uri, listen_prefix=(), send_prefix=(), dst_args=(), src_args=(), send_uri=None, mode=(),
            params=UNTIL_ENDED, ready=r"^tick 3 verified", end_source_after=None, link_mib_per_s=None,
            peer_dropped=False):
    """A move from a new VM to a new receiver; the guest is ended after it, or on the
    source end_source_after seconds into it. link_mib_per_s: the sender's stream goes
    through a proxy that holds it to that rate (a slow link). peer_dropped: the receiver
    must refuse the sender's handshake and listen on; it is then stopped (SIGTERM)."""
    if link_mib_per_s:
        link = os.path.join(d, "link.sock")
        stop = proxy(link, uri[5:], mib_per_s=link_mib_per_s)
        try:
            return migrate(pagoda, guest, d, uri, listen_prefix, send_prefix, dst_args, src_args, "unix:" + link,
                           mode, params, ready, end_source_after)
        finally:
            stop()
    sock = os.path.join(d, "api.sock")
    dst = VM([pagoda, "run", "--incoming", uri, "--timeout", "120"] + list(dst_args), listen_prefix)
    if not dst.wait_for("waiting for a migration"):
        return "the receiver did not start: " + dst.text()
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "120", "-p", params] + list(src_args), send_prefix)
    if not src.wait_for(ready):
        return f"the guest never printed /{ready}/"
    timer = threading.Timer(end_source_after, src.end_guest) if end_source_after is not None else None
    if timer:
        timer.start()
    rc, out = ctl(pagoda, sock, "migrate", send_uri or uri, *mode, prefix=send_prefix)
    if timer:
        timer.join()
    if peer_dropped:
        if not dst.wait_for("a peer failed the handshake .*: dropped, still waiting", 30):
            dst.p.kill()
            return "the receiver did not drop the refused sender and listen on: " + dst.text()
        dst.p.terminate()
    for vm in (src, dst):
        vm.end_guest()
    src_rc, dst_rc = src.finish(), dst.finish()
    print(src.text() + "----\n" + dst.text())
    return rc, out, src, dst, src_rc, dst_rc


def migrate_ok(pagoda, guest, d, uri, **kw):
    r = migrate(pagoda, guest, d, uri, **kw)
    if isinstance(r, str):
        return r
    rc, out, src, dst, src_rc, dst_rc = r
    if rc != 0 or src_rc != 0 or dst_rc != 0:
        return f"ctl exit {rc}, source exit {src_rc}, destination exit {dst_rc}"
    if not re.search(r"downtime_ms\": [0-9.]+", out) or "migrated to" in dst.text():
        return "no report"
    return check_continuity(src, dst)


def records(path):
    import json
    return [json.loads(line) for line in open(path)]


def check_records(recs, side):
    """One migration's records of one side: start, passes 0..n-1 in order, end done with the
    passes' bytes adding up."""
    if [r["side"] for r in recs] != [side] * len(recs):
        return f"{side} records name another side"
    ev = [r["event"] for r in recs]
    if len(ev) < 3 or ev[0] != "start" or ev[-1] != "end" or set(ev[1:-1]) != {"pass"}:
        return f"{side} records are {ev}, expected start, passes, end"
    passes, end = recs[1:-1], recs[-1]
    if [r["pass"] for r in passes] != list(range(len(passes))) or end["passes"] != len(passes):
        return f"{side} passes are numbered {[r['pass'] for r in passes]}, the end says {end['passes']}"
    if end["state"] != "done" or sum(r["bytes"] for r in passes) > end["bytes"]:
        return f"{side} end record: {end}"
    if any(b["t_ms"] < a["t_ms"] for a, b in zip(recs, recs[1:])):
        return f"{side} records go back in time"
    return None


def migrate_log(pagoda, guest, d):
    """--migration-log on both sides: JSON lines a plot can be made from, the two sides
    agreeing on what each pass carried; tools/migration-plot draws them."""
    src_log, dst_log = os.path.join(d, "src.jsonl"), os.path.join(d, "dst.jsonl")
    why = migrate_ok(pagoda, guest, d, "unix:" + os.path.join(d, "mig.sock"), dst_args=("--migration-log", dst_log),
                     src_args=("--migration-log", src_log))
    if why:
        return why
    src, dst = records(src_log), records(dst_log)
    print("".join(open(src_log)) + "".join(open(dst_log)))
    why = check_records(src, "source") or check_records(dst, "destination")
    if why:
        return why
    sp, dp = [(r["pages"], r["zero_pages"]) for r in src[1:-1]], [(r["pages"], r["zero_pages"]) for r in dst[1:-1]]
    if sp != dp:
        return f"the sides disagree on the passes' pages: source {sp}, destination {dp}"
    if not src[-2]["stop"] or any(r["stop"] for r in src[1:-2]) or "est_downtime_ms" not in src[1]:
        return "the source's passes do not say which was sent paused, or lack what was dirtied meanwhile"
    end = src[-1]
    parts = sum(end[k] for k in ("pause_ms", "devices_ms", "last_pages_ms", "state_ms", "receiver_ms"))
    if not 0 < parts <= end["downtime_ms"] + 0.01:
        return f"the downtime's phases add up to {parts} ms of {end['downtime_ms']}"
    plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "migration-plot")
    out = subprocess.run([sys.executable, plot, "-o", os.path.join(d, "plots"), src_log, dst_log],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
    print(out)
    for name in ("pages-per-pass.png", "throughput.png", "downtime.png"):
        path = os.path.join(d, "plots", name)
        if not os.path.exists(path) or open(path, "rb").read(8) != b"\x89PNG\r\n\x1a\n" or os.path.getsize(path) < 2000:
            return f"migration-plot did not draw {name}"
    return None


def migrate_channels(pagoda, guest, d, n, keyed=False):
    """--migration-channels N (with the key on both sides when keyed): the guest moves and
    runs on with its memory whole (it checks every page it wrote), the destination's
    record says pass 0 came over N connections, and both sides count the same pages in
    every pass."""
    src_log, dst_log = os.path.join(d, "src.jsonl"), os.path.join(d, "dst.jsonl")
    key = ["--migration-key", key_file(d, "k")] if keyed else []
    why = migrate_ok(pagoda, guest, d, "unix:" + os.path.join(d, "mig.sock"),
                     dst_args=["--migration-log", dst_log] + key,
                     src_args=["--migration-log", src_log, "--migration-channels", str(n)] + key)
    if why:
        return why
    src, dst = records(src_log), records(dst_log)
    print("".join(open(src_log)) + "".join(open(dst_log)))
    if src[0].get("channels") != n or dst[-1].get("channels") != n:
        return f"the records say {src[0].get('channels')} channels asked, {dst[-1].get('channels')} used, not {n}"
    sp, dp = [(r["pages"], r["zero_pages"]) for r in src[1:-1]], [(r["pages"], r["zero_pages"]) for r in dst[1:-1]]
    return None if sp == dp else f"the sides disagree on the passes' pages: source {sp}, destination {dp}"


def precopy_order(pagoda, guest, d):
    """The pre-copy order as the migration log shows it: a guest that rewrites 2048 pages
    over and over beside its walk (hot=2048) gets, from the third pass on, those pages sent
    last ("hot_sent_last", never more than the pass's pages) under the default
    cold-first; with --precopy-order address, none. The move starts right after the
    guest's first check of all its pages, so it writes through every pass (it writes
    nothing while it checks); it checks them all twice more where it lands."""
    hot = 2048
    seen = {}
    for order in ("cold-first", "address"):
        sub = os.path.join(d, order)
        os.mkdir(sub)
        log = os.path.join(sub, "src.jsonl")
        # Over a 64 MiB/s link a pass lasts long enough for the guest to write in it: at
        # full speed pass 1 took 6 ms, and a CI host that did not run the vCPU in those 6 ms
        # ended the move with an empty pass 2 (nothing to send last: [0, 0, 0]).
        why = migrate_ok(pagoda, guest, sub, "unix:" + os.path.join(sub, "mig.sock"), link_mib_per_s=64,
                         params=f"{UNTIL_ENDED} tick=40000 hot={hot}", ready=r"^tick 1 verified",
                         src_args=("--precopy-order", order, "--downtime-limit", "0.01", "--max-passes", "5",
                                   "--migration-log", log))
        if why:
            return f"{order}: {why}"
        recs = records(log)
        if recs[0].get("precopy_order") != order:
            return f"{order}: the start record says {recs[0].get('precopy_order')}"
        passes = [r for r in recs if r["event"] == "pass"]
        if any(r["hot_sent_last"] > r["pages"] for r in passes):
            return f"{order}: more pages sent last than sent: {passes}"
        seen[order] = [r["hot_sent_last"] for r in passes]
        print(f"{order}: pages per pass {[r['pages'] for r in passes]}, sent last as hot {seen[order]}")
    if not any(n > 0 for n in seen["cold-first"][2:]) or any(seen["cold-first"][:2]):
        return f"cold-first sent nothing last from the third pass on, or did before it: {seen['cold-first']}"
    if any(seen["address"]):
        return f"address order sent pages last as hot: {seen['address']}"
    return None


@contextlib.contextmanager
def source_and_fake_receiver(pagoda, guest, d, fake):
    """A source VM and a receiver of the test's making: fake(srv) runs on a thread with
    the listening socket. Yields (source, its control socket, the migration URI, thread);
    the source is stopped at the end."""
    mig, sock = os.path.join(d, "mig.sock"), os.path.join(d, "api.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(mig)
    srv.listen(1)
    t = threading.Thread(target=fake, args=(srv,))
    t.start()
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "60", "-p", STEPS])
    try:
        yield src, sock, "unix:" + mig, t
    finally:
        ctl(pagoda, sock, "stop")
        src.finish()
        srv.close()


def peer_words_escaped(pagoda, guest, d):
    """A receiver's refusal is quoted in migrate-status: a peer that puts JSON in its words
    cannot add members to the answer (it could say the migration was done)."""
    import json
    words = b'no", "state": "done", "x": "'

    def refuse(srv):
        c, _ = srv.accept()
        c.sendall(state_stream.GREETING)
        typ, ln = struct.unpack("<II", c.recv(8, socket.MSG_WAITALL))
        c.recv(ln, socket.MSG_WAITALL)
        c.sendall(struct.pack("<III", state_stream.MIG_REPLY, 256, 0) + words.ljust(252, b"\0"))
        c.close()

    with source_and_fake_receiver(pagoda, guest, d, refuse) as (src, sock, uri, t):
        if not src.wait_for(r"^tick 1 verified"):
            return "the guest never reached tick 1"
        rc, out = ctl(pagoda, sock, "migrate", uri)
        t.join(10)
        print(out)
        try:
            r = json.loads(out)
        except json.JSONDecodeError as e:
            return f"migrate answered with broken JSON ({e.msg}): {out}"
        if r.get("state") != "failed" or words.decode() not in r.get("error", ""):
            return f"the refusal is not reported as such: {r}"
        return None


def other_protocol_refused(pagoda, guest, d):
    """A receiver that speaks another version of the migration protocol (an older pagoda,
    whose greeting says none, or a newer one) is refused by the sender before anything of
    the VM is sent, with both versions named, and the VM runs on."""
    import json
    newer = struct.pack("<IIII", state_stream.MIG_GREETING, 40, 0, state_stream.MIG_PROTO_VERSION + 1) + bytes(32)
    greetings = [(state_stream.GREETING_V1, 1), (newer, state_stream.MIG_PROTO_VERSION + 1)]
    sent_after = []

    def greet_and_listen(srv):
        for words, _ in greetings:
            c, _ = srv.accept()
            c.sendall(words)
            c.settimeout(20)
            try:
                sent_after.append(c.recv(1 << 16))  # b"": it hung up without a word
            except OSError as e:
                sent_after.append(str(e).encode())
            c.close()

    with source_and_fake_receiver(pagoda, guest, d, greet_and_listen) as (src, sock, uri, t):
        if not src.wait_for(r"^tick 1 verified"):
            return "the guest never reached tick 1"
        for _, version in greetings:
            rc, out = ctl(pagoda, sock, "migrate", uri)
            for _ in range(100):
                if '"state": "running"' not in out:
                    break
                time.sleep(0.1)
                rc, out = ctl(pagoda, sock, "migrate-status")
            print(out)
            r = json.loads(out)
            want = f"speaks migration protocol {version} and this pagoda {state_stream.MIG_PROTO_VERSION}"
            if r.get("state") != "failed" or want not in r.get("error", ""):
                return f"a receiver of protocol {version} was not refused with both versions named: {r}"
        t.join(20)
        if sent_after != [b"", b""]:
            return f"the sender sent {sent_after!r} to a receiver it refused"
        n = max(ticks(src.text()))
        if not src.wait_for(rf"^tick {n + 1} verified"):
            return "the VM did not run on after the refusals"
    return None


def postcopy_checked(pagoda, guest, d, mode, dst_args=(), src_args=()):
    """Post-copy and the hybrid: the guest runs on at the destination while its memory
    follows, every page verified; both sides report the post-copy, and their records say
    how many pages came after the switch and how long remote faults waited."""
    src_log, dst_log = os.path.join(d, "src.jsonl"), os.path.join(d, "dst.jsonl")
    r = migrate(pagoda, guest, d, "unix:" + os.path.join(d, "mig.sock"), mode=(mode,),
                dst_args=list(dst_args) + ["--migration-log", dst_log], src_args=list(src_args) + ["--migration-log", src_log])
    if isinstance(r, str):
        return r
    rc, out, src, dst, src_rc, dst_rc = r
    if rc != 0 or src_rc != 0 or dst_rc != 0:
        return f"ctl exit {rc}, source exit {src_rc}, destination exit {dst_rc}"
    if not re.search(r"post-copy: all memory here: \d+ pages", dst.text()):
        return "the destination does not say all memory arrived"
    if not re.search(r"post-copy: \d+ pages pushed in order", src.text()):
        return "the source does not report the post-copy"
    src_recs, dst_recs = records(src_log), records(dst_log)
    print("".join(open(src_log)) + "".join(open(dst_log)))
    why = check_records(src_recs, "source")
    last = src_recs[-2]
    dst_end = [r for r in dst_recs if r["event"] == "postcopy_end"]
    faults = [r for r in dst_recs if r["event"] == "faults"]
    if why or not last.get("postcopy") or not last["stop"]:
        return why or f"the source's last pass is not the post-copy: {last}"
    if not dst_end or dst_end[0]["state"] != "done" or dst_end[0]["pages"] != last["pages"] or not faults:
        return f"the destination's post-copy records disagree with the source's: {dst_end} {faults}"
    if mode == "postcopy" and last["pages"] != 65536:  # the 256 MiB guest, all of it after the switch
        return f"pure post-copy sent {last['pages']} pages after the switch, not all 65536"
    return check_continuity(src, dst)


def snapshot_state(pagoda, guest, d):
    """A paused guest's state record stream, and its header record's payload."""
    r = snapshot_taken(pagoda, guest, d, tick=1)
    if isinstance(r, str):
        raise RuntimeError(r)
    state = open(os.path.join(r[1], "state"), "rb").read()
    typ, ln = struct.unpack_from("<II", state, 0)
    return state, state[8:8 + ln]


def postcopy_source_lost(pagoda, guest, d):
    """A source that switches to post-copy, hands over the state, then goes away: the
    destination's guest cannot go on (its memory is elsewhere): it ends with exit 16 and
    says why, promptly, instead of hanging on a page that will not come."""
    state, header = snapshot_state(pagoda, guest, d)
    path = os.path.join(d, "in.sock")
    dst = VM([pagoda, "run", "--incoming", "unix:" + path, "--timeout", "60"])
    if not dst.wait_for("waiting for a migration"):
        return "the receiver did not start"
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    state_stream.read_greeting(c)
    c.sendall(struct.pack("<II", state_stream.MIG_HELLO, len(header)) + header)
    c.recv(264, socket.MSG_WAITALL)
    c.sendall(struct.pack("<III", state_stream.MIG_POSTCOPY, 4, 1) +
              struct.pack("<II", state_stream.MIG_STATE, len(state)) + state + struct.pack("<II", state_stream.MIG_END, 0))
    c.settimeout(20)
    got = b""
    while len(got) < 8:  # page requests, then the reply: read until the guest asked for a page
        chunk = c.recv(4096)
        if not chunk:
            break
        got += chunk
    c.close()
    rc = dst.finish(timeout=30)
    print(dst.text())
    if rc is None:
        return "the destination hung after losing its source"
    if rc != 16 or "post-copy: the source went away; the guest's memory is incomplete" not in dst.text():
        return f"destination exit {rc}: expected 16 and a sentence naming the lost source"
    return None


def take_until_end(srv):
    """A fake destination's start: the sender's records up to MIG_END, read and dropped."""
    c = state_stream.accept_sender(srv)
    buf = b""
    while True:  # records are (type, length) headed
        while len(buf) < 8:
            buf += c.recv(65536)
        typ, ln = struct.unpack_from("<II", buf, 0)
        while len(buf) < 8 + ln:
            buf += c.recv(65536)
        buf = buf[8 + ln:]
        if typ == state_stream.MIG_END:
            return c


def postcopy_bad_request(pagoda, guest, d):
    """A destination that asks for pages past its guest's RAM (a count beyond the slot, a
    gpa in the MMIO hole) is refused as a broken stream: the source does not read or send
    past its memory, stays up and keeps its VM paused (the guest ran elsewhere)."""
    def fake(srv):
        c = take_until_end(srv)
        c.sendall(state_stream.REPLY_OK)
        c.sendall(struct.pack("<IIQII", state_stream.MIG_PAGE_REQ, 16, 0x0FFFF000, 1 << 18, 0))
        time.sleep(1)
        c.close()

    with source_and_fake_receiver(pagoda, guest, d, fake) as (src, sock, uri, t):
        if not src.wait_for(r"^tick 1 verified"):
            return "the guest never reached tick 1"
        rc, out = ctl(pagoda, sock, "migrate", uri, "postcopy")
        t.join(20)
        print(out)
        if rc == 0 or "post-copy broke after the destination started the guest" not in out:
            return f"ctl exit {rc}: the bad request was not reported as a broken post-copy"
        prc, pout = ctl(pagoda, sock, "pause")
        if "already paused" not in pout:
            return f"the source is not up and paused after a bad request: {pout}"
        return None


def postcopy_destination_lost(pagoda, guest, d):
    """A destination that takes the state, says its guest runs, then goes away: the source
    cannot know what ran there, so it keeps its VM paused and says so."""
    def fake(srv):
        c = take_until_end(srv)
        c.sendall(state_stream.REPLY_OK)
        time.sleep(0.5)
        c.close()

    with source_and_fake_receiver(pagoda, guest, d, fake) as (src, sock, uri, t):
        if not src.wait_for(r"^tick 2 verified"):
            return "the guest never reached tick 2"
        rc, out = ctl(pagoda, sock, "migrate", uri, "postcopy")
        t.join(20)
        if rc == 0 or "post-copy broke after the destination started the guest" not in out:
            return f"ctl exit {rc}: the broken post-copy was not reported as such"
        n = max(ticks(src.text()))
        time.sleep(1)
        prc, pout = ctl(pagoda, sock, "pause")
        if "already paused" not in pout or len(ticks(src.text())) != n:
            return "the source's VM ran on after its guest had started elsewhere"
        return None


def postcopy_refused_file(pagoda, guest, d):
    """A receiver whose RAM is a file cannot take post-copy: it says so, and the source,
    whose guest never ran elsewhere, runs on."""
    r = migrate(pagoda, guest, d, "unix:" + os.path.join(d, "mig.sock"),
                dst_args=["--memory-backend", "file=" + os.path.join(d, "ram")], mode=("postcopy",))
    if isinstance(r, str):
        return r
    rc, out, src, dst, src_rc, dst_rc = r
    if rc == 0 or dst_rc in (0, None) or "filling guest RAM on demand needs --memory-backend anon, thp, memfd or hugetlb" not in dst.text():
        return f"ctl exit {rc}, destination exit {dst_rc}: expected a refusal naming the backend"
    if src_rc != 0 or not finished(src.text()):
        return f"source exit {src_rc}: it did not run on to its end"
    return None


@contextlib.contextmanager
def hugetlb_2m(pages):
    """pages more 2 MiB huge pages for the test, put back after; None when the host has
    not that many."""
    old, got = grow_pool(2 << 20, pages)
    try:
        yield got >= pages
    finally:
        with open(pool_path(2 << 20), "w") as f:
            f.write(str(old))


def postcopy_hugetlb(pagoda, guest, d, mode, both):
    """Post-copy into hugetlb: a fault waits for its whole 2 MiB page, which the guest
    sees only once complete (written through a second mapping, then mapped with
    UFFDIO_CONTINUE); the hybrid's stale pages leave the guest's view a huge page at a
    time while the rest of it stays good. Every page verified, as always."""
    huge = ["--memory-backend", "hugetlb", "--hugepage-size", "2M"]
    with hugetlb_2m(256 if both else 128) as ok:
        if not ok:
            print("SKIP: the host has not 128-256 free 2 MiB pages")
            return 77
        why = postcopy_checked(pagoda, guest, d, mode, dst_args=huge, src_args=huge if both else ())
        dst = records(os.path.join(d, "dst.jsonl"))
        faults = [r for r in dst if r["event"] == "faults"]
        if not why and (not faults or faults[0]["unit_pages"] != 512):
            why = f"the destination did not fault in whole 2 MiB pages: {faults}"
        return why


def netns(d):
    """Two network namespaces joined by a veth pair: 10.77.0.1 (a) and 10.77.0.2 (b)."""
    tag = str(os.getpid())
    a, b = f"pgm_a{tag}", f"pgm_b{tag}"
    cmds = [f"ip netns add {a}", f"ip netns add {b}", f"ip link add va{tag} type veth peer name vb{tag}",
            f"ip link set va{tag} netns {a}", f"ip link set vb{tag} netns {b}",
            f"ip -n {a} addr add 10.77.0.1/24 dev va{tag}", f"ip -n {b} addr add 10.77.0.2/24 dev vb{tag}",
            f"ip -n {a} link set va{tag} up", f"ip -n {b} link set vb{tag} up",
            f"ip -n {a} link set lo up", f"ip -n {b} link set lo up"]
    for c in cmds:
        subprocess.run(c.split(), check=True)
    return a, b


def migrate_cut(pagoda, guest, d):
    """A receiver that takes the header and 1 MiB, then hangs up: the source runs on."""
    path = os.path.join(d, "fake.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    sock = os.path.join(d, "api.sock")
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "120", "-p", UNTIL_ENDED])
    if not src.wait_for(r"^tick 2 verified"):
        return "the guest never reached tick 2"

    def fake():
        c = state_stream.accept_sender(srv)
        got = 0
        while got < (1 << 20):
            got += len(c.recv(65536))
        c.close()

    t = threading.Thread(target=fake)
    t.start()
    rc, out = ctl(pagoda, sock, "migrate", "unix:" + path)
    t.join()
    src.end_guest()
    rc_src = src.finish()
    print(src.text())
    if rc == 0 or '"state": "failed"' not in out:
        return f"ctl exit {rc}: the cut migration was not reported failed"
    if rc_src != 0 or "the VM runs on here" not in src.text():
        return f"source exit {rc_src}: it did not run on"
    if not finished(src.text()):
        return "the source's guest did not finish whole"
    return None


def migrate_mismatch(pagoda, guest, d):
    r = migrate(pagoda, guest, d, "unix:" + os.path.join(d, "mig.sock"), dst_args=["-m", "512M"])
    if isinstance(r, str):
        return r
    rc, out, src, dst, src_rc, dst_rc = r
    if rc == 0 or "refused" not in out or "guest memory differs" not in out:
        return f"ctl exit {rc}: a 256M guest was not refused by a 512M receiver"
    if dst_rc == 0 or src_rc != 0 or not finished(src.text()):
        return f"destination exit {dst_rc} (must fail), source exit {src_rc} (must finish)"
    return None


def incoming_cut(pagoda, guest, d):
    """A sender that goes away mid-stream: the receiver fails and starts nothing."""
    state, header = snapshot_state(pagoda, guest, d)
    path = os.path.join(d, "in.sock")
    dst = VM([pagoda, "run", "--incoming", "unix:" + path, "--timeout", "60"])
    dst.wait_for("waiting for a migration")
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    state_stream.read_greeting(c)
    c.sendall(struct.pack("<II", 0x1000, len(header)) + header)
    c.recv(264, socket.MSG_WAITALL)
    page = struct.pack("<QII", 0x200000, 1, 0) + bytes(4096)
    c.sendall(struct.pack("<II", 0x1001, len(page)) + page)
    c.close()
    rc = dst.finish()
    print(dst.text())
    if rc in (0, None) or "incoming migration failed: the sender went away" not in dst.text():
        return f"receiver exit {rc}: expected a failure naming the lost sender"
    return None


def key_file(d, name, data=None):
    path = os.path.join(d, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(data if data is not None else os.urandom(32))
    return path


def refused_both_sides(r, src_words, dst_words):
    """A migration that must fail before any memory: the source runs on to its end."""
    if isinstance(r, str):
        return r
    rc, out, src, dst, src_rc, dst_rc = r
    if rc == 0 or src_words not in out:
        return f"ctl exit {rc}: expected a failure saying '{src_words}'"
    if dst_rc in (0, None) or (dst_words and dst_words not in dst.text()):
        return f"destination exit {dst_rc}: expected a failure saying '{dst_words}'"
    if src_rc != 0 or not finished(src.text()):
        return f"source exit {src_rc}: it did not run on to its end"
    return None


def migrate_key(pagoda, guest, d, case):
    """--migration-key: the same key on both sides migrates; another key, a key on one
    side only, a peer without the key and a stream altered on its way are refused."""
    uri = "unix:" + os.path.join(d, "mig.sock")
    k1, k2 = key_file(d, "k1"), key_file(d, "k2")
    if case == "migrate-key":
        return migrate_ok(pagoda, guest, d, uri, dst_args=["--migration-key", k1], src_args=["--migration-key", k1])
    if case == "migrate-key-wrong":
        return refused_both_sides(migrate(pagoda, guest, d, uri, dst_args=["--migration-key", k1], src_args=["--migration-key", k2],
                                          peer_dropped=True),
                                  "did not prove it holds the migration key", "did not prove it holds the migration key")
    if case == "migrate-key-receiver-only":
        return refused_both_sides(migrate(pagoda, guest, d, uri, dst_args=["--migration-key", k1], peer_dropped=True),
                                  "the receiver demands the migration key", "")
    if case == "migrate-key-sender-only":
        return refused_both_sides(migrate(pagoda, guest, d, uri, src_args=["--migration-key", k1], peer_dropped=True),
                                  "the receiver has no migration key", "")
    if case == "migrate-key-tamper":
        proxy_path = os.path.join(d, "proxy.sock")
        stop = proxy(proxy_path, uri[5:], flip_at=3 << 20)
        try:
            return refused_both_sides(migrate(pagoda, guest, d, uri, dst_args=["--migration-key", k1],
                                              src_args=["--migration-key", k1], send_uri="unix:" + proxy_path),
                                      '"state": "failed"', "altered on its way")
        finally:
            stop()
    return "unknown case " + case


def proxy(listen_path, target_path, flip_at=None, mib_per_s=None):
    """A man in the middle on a unix socket that passes everything on, but flips one bit
    of the byte at offset flip_at of the sender's stream, or passes the sender's stream at
    no more than mib_per_s (a slow link)."""
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(listen_path)
    srv.listen(1)

    def pump(a, b, sender):
        seen, t0 = 0, time.monotonic()
        try:
            while True:
                buf = bytearray(a.recv(65536))
                if not buf:
                    break
                if sender and flip_at is not None and seen <= flip_at < seen + len(buf):
                    buf[flip_at - seen] ^= 1
                seen += len(buf)
                if sender and mib_per_s:
                    time.sleep(max(0.0, t0 + seen / (mib_per_s * 1048576) - time.monotonic()))
                b.sendall(buf)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve():
        try:
            c, _ = srv.accept()
        except OSError:
            return
        up = socket.socket(socket.AF_UNIX)
        up.connect(target_path)
        threading.Thread(target=pump, args=(up, c, False), daemon=True).start()
        pump(c, up, True)

    threading.Thread(target=serve, daemon=True).start()
    return srv.close


MIG_POSTCOPY_DONE = 0x100D


def forging_proxy(listen_path, target_path):
    """A man in the middle without the key: it passes both directions on, record by
    record, until the source's post-copy end (MIG_POSTCOPY_DONE); that and all after it it
    drops, answers the source with a bare MIG_POSTCOPY_DONE of its own as if from the
    destination, and hangs up a moment later."""
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(listen_path)
    srv.listen(1)
    lock, forged = threading.Lock(), threading.Event()

    def records(sock):
        buf = b""
        while True:
            while len(buf) < 8 or len(buf) < 8 + struct.unpack_from("<II", buf)[1]:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            n = 8 + struct.unpack_from("<II", buf)[1]
            yield buf[:n]
            buf = buf[n:]

    def back(up, c):  # destination to source: whole records, none after the forgery
        try:
            for rec in records(up):
                with lock:
                    if forged.is_set():
                        return
                    c.sendall(rec)
        except OSError:
            pass

    def serve():
        try:
            c, _ = srv.accept()
            up = socket.socket(socket.AF_UNIX)
            up.connect(target_path)
            threading.Thread(target=back, args=(up, c), daemon=True).start()
            for rec in records(c):
                if struct.unpack_from("<I", rec)[0] == MIG_POSTCOPY_DONE:
                    with lock:
                        c.sendall(struct.pack("<II", MIG_POSTCOPY_DONE, 0))
                        forged.set()
                    time.sleep(2)
                    break
                up.sendall(rec)
            for sock in (c, up):
                sock.close()
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    return srv.close


def postcopy_forged_done(pagoda, guest, d):
    """A keyed post-copy whose man in the middle swallows the source's end and forges the
    destination's: the source believes nothing it cannot authenticate, so it does not say
    "done" (before, it printed "migrate: done" and quit, and both sides lost the VM)."""
    path, sock, link = (os.path.join(d, n) for n in ("mig.sock", "api.sock", "mitm.sock"))
    k = key_file(d, "k")
    dst = VM([pagoda, "run", "--incoming", "unix:" + path, "--timeout", "60", "--migration-key", k])
    if not dst.wait_for("waiting for a migration"):
        return "the receiver did not start: " + dst.text()
    src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "60", "-p", UNTIL_ENDED,
              "--migration-key", k])
    stop = forging_proxy(link, path)
    try:
        if not src.wait_for(r"^tick 3 verified"):
            return "the guest never reached tick 3"
        rc, out = ctl(pagoda, sock, "migrate", "unix:" + link, "postcopy")
        ctl(pagoda, sock, "stop")  # a source that rightly kept its VM paused
    finally:
        stop()
        for vm in (src, dst):
            vm.end_guest()
            vm.finish(timeout=30)
    print(out + "----\n" + src.text() + "----\n" + dst.text())
    if rc == 0 or '"state": "done"' in out or "migrate: done" in src.text():
        return f"ctl exit {rc}: the source took a forged end of post-copy for the destination's"
    if "MAC does not match" not in out and "post-copy broke" not in out:
        return f"ctl exit {rc}: the refusal does not say why"
    return None


def slow_link(pagoda, guest, d):
    """A move over an 8 MiB/s link (a proxy that holds the sender back): it takes seconds,
    the guest writing all along; pre-copy stops after its passes, the guest goes on where
    it lands with every page verified, and the report's link rate is the link's."""
    import json
    r = migrate(pagoda, guest, d, "unix:" + os.path.join(d, "mig.sock"), link_mib_per_s=8,
                src_args=("--max-passes", "2"))
    if isinstance(r, str):
        return r
    rc, out, src, dst, src_rc, dst_rc = r
    if rc != 0 or src_rc != 0 or dst_rc != 0:
        return f"ctl exit {rc}, source exit {src_rc}, destination exit {dst_rc}"
    rep = json.loads(out)
    print(f"total {rep['total_ms']} ms, link {rep['link_mib_per_s']} MiB/s, downtime {rep['downtime_ms']} ms")
    if rep["total_ms"] < 3000 or not 4 <= rep["link_mib_per_s"] <= 9:
        return f"the move did not go at the link's 8 MiB/s: {rep}"
    return check_continuity(src, dst)


def guest_ends_mid_move(pagoda, guest, d):
    """The guest powers off on the source in the middle of a slow move: the VM ends with
    the guest's status, the migration fails saying why (not "Broken pipe", not "the VM
    runs on here"), and the receiver starts nothing."""
    r = migrate(pagoda, guest, d, "unix:" + os.path.join(d, "mig.sock"), link_mib_per_s=4, end_source_after=1.0)
    if isinstance(r, str):
        return r
    rc, out, src, dst, src_rc, dst_rc = r
    if rc == 0 or '"state": "failed"' not in out or "the VM ended during the migration: guest powered off" not in out:
        return f"ctl exit {rc}: the migration's failure does not say the guest ended: {out}"
    if src_rc != 0 or not finished(src.console()) or "runs on here" in src.text():
        return f"source exit {src_rc}: expected the guest's 0 and no claim that the VM runs on"
    if dst_rc in (0, None) or "tick" in dst.console():
        return f"destination exit {dst_rc}: it must fail without running the guest"
    return None


def unkeyed_peer(pagoda, guest, d):
    """A peer without the key that skips the proof and sends a VM header at once: the
    keyed receiver refuses it before it reads any state and listens on; 7 more peers that
    connect and leave make 8 in a row, and then it gives up, saying so."""
    path = os.path.join(d, "in.sock")
    dst = VM([pagoda, "run", "--incoming", "unix:" + path, "--timeout", "60", "--migration-key", key_file(d, "k")])
    if not dst.wait_for("waiting for a migration"):
        return "the receiver did not start"
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    flags = state_stream.read_greeting(c)
    c.sendall(struct.pack("<II", 0x1000, 120) + bytes(120))
    if not dst.wait_for("did not prove it holds the migration key: refused before reading any state.*still waiting", 30):
        return "the receiver did not refuse the peer without the key and listen on: " + dst.text()
    c.close()
    for _ in range(7):
        c = socket.socket(socket.AF_UNIX)
        c.connect(path)
        c.close()
        time.sleep(0.05)
    rc = dst.finish(timeout=30)
    print(dst.text())
    if flags != 1:
        return f"the keyed receiver's greeting has flags {flags}, not 1 (key required)"
    if rc in (0, None) or "8 peers in a row failed the handshake" not in dst.text():
        return f"receiver exit {rc}: expected it to give up after 8 failed handshakes, saying so"
    return None


def keyed_receiver_survives_scan(pagoda, guest, d):
    """A keyed receiver that a port scanner or a health check reaches first (connect and
    close, twice) drops those peers and still takes the real migration after them. Before,
    the first such connection ended it with exit 2."""
    path, sock = os.path.join(d, "in.sock"), os.path.join(d, "api.sock")
    k = key_file(d, "k")
    dst = VM([pagoda, "run", "--incoming", "unix:" + path, "--timeout", "60", "--migration-key", k])
    src = None
    try:
        if not dst.wait_for("waiting for a migration"):
            return "the receiver did not start"
        for _ in range(2):
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            c.close()
        if not dst.wait_for(r"dropped, still waiting \(2 of 8\)", 30):
            return "the receiver did not drop the two scans and listen on: " + dst.text()
        src = VM([pagoda, "run", "-k", guest, "--api-sock", sock, "--timeout", "60", "-p", UNTIL_ENDED,
                  "--migration-key", k])
        if not src.wait_for(r"^tick 3 verified"):
            return "the guest never reached tick 3"
        rc, out = ctl(pagoda, sock, "migrate", "unix:" + path)
    finally:
        for vm in (src, dst):
            if vm:
                vm.end_guest()
        src_rc, dst_rc = (src.finish(30) if src else None), dst.finish(30)
    print(out + "----\n" + src.text() + "----\n" + dst.text())
    if rc != 0 or src_rc != 0 or dst_rc != 0:
        return f"ctl exit {rc}, source exit {src_rc}, destination exit {dst_rc}: the migration after the scans failed"
    return check_continuity(src, dst)


def incoming_binds_where_told(pagoda, guest, d):
    """--incoming tcp:127.0.0.1:P listens on loopback only, not on every interface."""
    port = 7000 + os.getpid() % 1000
    dst = VM([pagoda, "run", "--incoming", f"tcp:127.0.0.1:{port}", "--timeout", "30"])
    try:
        if not dst.wait_for("waiting for a migration"):
            return "the receiver did not start: " + dst.text()
        listening = [line.split()[1] for line in open("/proc/net/tcp").read().splitlines()[1:]
                     if line.split()[3] == "0A" and line.split()[1].endswith(f":{port:04X}")]
        print(f"listening on port {port}: {listening}")
        if listening != [f"0100007F:{port:04X}"]:
            return f"--incoming tcp:127.0.0.1:{port} listens on {listening}, not on loopback alone"
        return None
    finally:
        dst.p.kill()
        dst.finish()


def migrate_unix(pagoda, guest, d):
    return migrate_ok(pagoda, guest, d, "unix:" + os.path.join(d, "mig.sock"))


def migrate_tcp_netns(pagoda, guest, d):
    ns = netns(d)
    try:
        return migrate_ok(pagoda, guest, d, "tcp:10.77.0.2:7707",
                          listen_prefix=("ip", "netns", "exec", ns[1]), send_prefix=("ip", "netns", "exec", ns[0]))
    finally:
        for n in ns:
            subprocess.run(["ip", "netns", "del", n])


def postcopy_key(pagoda, guest, d):
    k = key_file(d, "k")
    return postcopy_checked(pagoda, guest, d, "postcopy", dst_args=["--migration-key", k], src_args=["--migration-key", k])


def key_case(name):
    return lambda pagoda, guest, d: migrate_key(pagoda, guest, d, name)


# The cases, each with the test guest it takes (tests/meson.build reads this table
# through --list and makes one test of each row).
CASES = {
    "snapshot-copy": ("migrate", snapshot),
    "snapshot-map": ("migrate", lambda p, g, d: snapshot(p, g, d, ["--restore-memory", "map", "--memory-backend", "anon"])),
    "snapshot-cow-shared": ("migrate", snapshot_cow_shared),
    "snapshot-lazy": ("migrate", lambda p, g, d: snapshot(p, g, d, ["--restore-memory", "lazy"])),
    "snapshot-lazy-memfd": ("migrate", lambda p, g, d: snapshot(p, g, d, ["--restore-memory", "lazy",
                                                                          "--memory-backend", "memfd"])),
    "snapshot-lazy-hugetlb": ("migrate", snapshot_lazy_hugetlb),
    "snapshot-lazy-diff": ("migrate", lambda p, g, d: snapshot_diff(p, g, d, ["--restore-memory", "lazy"])),
    "snapshot-diff": ("migrate", snapshot_diff),
    "snapshot-refused": ("migrate", snapshot_refused),
    "snapshot-with-share-refused": ("migrate", snapshot_with_share),
    "migrate-unix": ("migrate", migrate_unix),
    "migrate-tcp-netns": ("migrate", migrate_tcp_netns),
    "migrate-slow-link": ("migrate", slow_link),
    "migrate-guest-ends": ("migrate", guest_ends_mid_move),
    "migrate-cut": ("migrate", migrate_cut),
    "migrate-mismatch": ("migrate", migrate_mismatch),
    "incoming-cut": ("migrate", incoming_cut),
    "migrate-key": ("migrate", key_case("migrate-key")),
    "migrate-key-wrong": ("migrate", key_case("migrate-key-wrong")),
    "migrate-key-receiver-only": ("migrate", key_case("migrate-key-receiver-only")),
    "migrate-key-sender-only": ("migrate", key_case("migrate-key-sender-only")),
    "migrate-key-tamper": ("migrate", key_case("migrate-key-tamper")),
    "incoming-unkeyed-peer": ("migrate", unkeyed_peer),
    "incoming-keyed-survives-scan": ("migrate", keyed_receiver_survives_scan),
    "incoming-binds-where-told": ("migrate", incoming_binds_where_told),
    "migrate-log": ("migrate", migrate_log),
    "migrate-channels-4": ("migrate", lambda p, g, d: migrate_channels(p, g, d, 4)),
    "migrate-channels-key": ("migrate", lambda p, g, d: migrate_channels(p, g, d, 2, keyed=True)),
    "migrate-channels-hybrid": ("migrate", lambda p, g, d: postcopy_checked(
        p, g, d, "precopy-then-postcopy=2", src_args=["--migration-channels", "3"])),
    "migrate-channels-postcopy": ("migrate", lambda p, g, d: postcopy_checked(
        p, g, d, "postcopy", src_args=["--migration-channels", "3"])),
    "migrate-channels-postcopy-key": ("migrate", lambda p, g, d: postcopy_checked(
        p, g, d, "postcopy", dst_args=["--migration-key", key_file(d, "k")],
        src_args=["--migration-key", os.path.join(d, "k"), "--migration-channels", "4"])),
    "migrate-precopy-order": ("migrate", precopy_order),
    "migrate-peer-words-escaped": ("migrate", peer_words_escaped),
    "migrate-other-protocol-refused": ("migrate", other_protocol_refused),
    "migrate-postcopy": ("migrate", lambda p, g, d: postcopy_checked(p, g, d, "postcopy")),
    "migrate-hybrid": ("migrate", lambda p, g, d: postcopy_checked(p, g, d, "precopy-then-postcopy=2")),
    "migrate-postcopy-key": ("migrate", postcopy_key),
    "postcopy-source-lost": ("migrate", postcopy_source_lost),
    "postcopy-destination-lost": ("migrate", postcopy_destination_lost),
    "postcopy-refused-file": ("migrate", postcopy_refused_file),
    "migrate-postcopy-memfd": ("migrate", lambda p, g, d: postcopy_checked(
        p, g, d, "precopy-then-postcopy=1", dst_args=["--memory-backend", "memfd"],
        src_args=["--memory-backend", "memfd"])),
    "migrate-postcopy-hugetlb": ("migrate", lambda p, g, d: postcopy_hugetlb(p, g, d, "postcopy", False)),
    "migrate-hybrid-hugetlb": ("migrate", lambda p, g, d: postcopy_hugetlb(p, g, d, "precopy-then-postcopy=1", True)),
    # populated pages would never fault
    "migrate-postcopy-prefaulted": ("migrate", lambda p, g, d: postcopy_checked(p, g, d, "postcopy",
                                                                                dst_args=["--prefault"])),
    "postcopy-bad-request": ("migrate", postcopy_bad_request),
    "postcopy-key-forged-done": ("migrate", postcopy_forged_done),
    "snapshot-virtio": ("virtio_blk", lambda p, g, d: virtio_move(p, g, d, "snapshot")),
    "migrate-virtio": ("virtio_blk", lambda p, g, d: virtio_move(p, g, d, "migrate")),
    "snapshot-virtio-pci": ("virtio_pci", lambda p, g, d: virtio_move(p, g, d, "snapshot", pci=True)),
    "migrate-virtio-pci": ("virtio_pci", lambda p, g, d: virtio_move(p, g, d, "migrate", pci=True)),
}


def main():
    if sys.argv[1:] == ["--list"]:
        for name, (guest, _) in CASES.items():
            print(name, guest)
        return None
    pagoda, guest, case = sys.argv[1:4]
    if case not in CASES:
        return "unknown case " + case
    d = tempfile.mkdtemp(prefix="pagoda-mig-")
    try:
        return CASES[case][1](pagoda, guest, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    why = main()
    if why == 77:
        sys.exit(77)
    if why:
        print("FAIL: " + why)
    sys.exit(1 if why else 0)

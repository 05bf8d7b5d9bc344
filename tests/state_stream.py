"""pagoda's VM state stream (util/state_buf.h, vmm/persist/machine_state.h) for tests that craft
hostile snapshots and migration streams: records of (type u32, length u32, payload), a
header record first and an END record holding the CRC-32 of everything before it."""
import socket
import struct
import zlib

REC_HEADER, REC_SERIAL, REC_RTC, REC_VIRTIO, REC_X86_VCPU, REC_END = 1, 2, 3, 4, 0x100, 0xFFFF
HEADER_NR_VCPUS = 24  # offset of nr_vcpus in struct state_header


def parse(data):
    """The records as [type, payload] pairs, END included."""
    recs, pos = [], 0
    while pos < len(data):
        typ, ln = struct.unpack_from("<II", data, pos)
        recs.append([typ, data[pos + 8:pos + 8 + ln]])
        pos += 8 + ln
    return recs


def build(recs):
    """Records back to bytes, the END record (if any is given) replaced by a correct one."""
    body = b"".join(struct.pack("<II", t, len(p)) + p for t, p in recs if t != REC_END)
    return body + struct.pack("<III", REC_END, 4, zlib.crc32(body))


def find(recs, typ):
    return [r for r in recs if r[0] == typ]


def set_header_u32(recs, offset, value):
    h = find(recs, REC_HEADER)[0]
    h[1] = h[1][:offset] + struct.pack("<I", value) + h[1][offset + 4:]


# The migration stream (vmm/persist/mig_proto.h), little-endian: the receiver greets first
# (flags, protocol version, nonce); 1 in flags means it demands the migration key.
MIG_HELLO, MIG_PAGES, MIG_PASS_END, MIG_STATE, MIG_REPLY, MIG_GREETING = 0x1000, 0x1001, 0x1002, 0x1003, 0x1005, 0x1006
MIG_END, MIG_HINT, MIG_POSTCOPY, MIG_PAGE_REQ = 0x1004, 0x1009, 0x100A, 0x100C
MIG_CHANNELS, MIG_JOIN = 0x100E, 0x100F
MIG_PROTO_VERSION = 3
GREETING = struct.pack("<IIII", MIG_GREETING, 40, 0, MIG_PROTO_VERSION) + bytes(32)
GREETING_V1 = struct.pack("<III", MIG_GREETING, 36, 0) + bytes(32)  # pagoda before versions
REPLY_OK = struct.pack("<III", MIG_REPLY, 256, 1) + bytes(252)


def read_greeting(sock):
    """A sender's first read: the receiver's greeting; returns its flags."""
    typ, ln, flags = struct.unpack("<III", sock.recv(12, socket.MSG_WAITALL))
    sock.recv(ln - 4, socket.MSG_WAITALL)
    assert typ == MIG_GREETING, hex(typ)
    return flags


def accept_sender(srv):
    """A fake receiver's start: accept, greet (no key), take the sender's header and
    accept it. Returns the connection, positioned at the first page record."""
    c, _ = srv.accept()
    c.sendall(GREETING)
    typ, ln = struct.unpack("<II", c.recv(8, socket.MSG_WAITALL))
    c.recv(ln, socket.MSG_WAITALL)
    c.sendall(REPLY_OK)
    return c

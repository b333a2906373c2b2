#!/usr/bin/env python3
"""tcpaudit - fuzz: decoder seeds from capture files.

Writes each frame of the given pcap/pcapng files (uncompressed) as one seed
for fuzz_decode: a byte choosing the link type (index into the harness's
table), a byte of wire-length excess (0), then the frame. Unreadable or
damaged files are skipped where the damage starts; that is fine for seeds.

usage: mkseeds.py OUTDIR CAPTURE...
"""
import hashlib
import os
import struct
import sys

# Same order as `linktypes` in fuzz_decode.c; anything else maps to the last.
LINKTYPES = [1, 0, 12, 14, 101, 108, 113, 228, 229, 276]
MAX_PER_FILE = 64


def selector(lt):
    return LINKTYPES.index(lt) if lt in LINKTYPES else len(LINKTYPES)


def pcap_frames(b):
    magic = b[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return
    if len(b) < 24:
        return
    lt = struct.unpack(e + "I", b[20:24])[0] & 0xFFFF
    off = 24
    while off + 16 <= len(b):
        caplen = struct.unpack(e + "I", b[off + 8:off + 12])[0]
        off += 16
        if caplen > len(b) - off:
            return
        yield lt, b[off:off + caplen]
        off += caplen


def pcapng_frames(b):
    off, e, ifaces = 0, "<", []
    while off + 12 <= len(b):
        btype = struct.unpack(e + "I", b[off:off + 4])[0]
        if b[off:off + 4] == b"\x0a\x0d\x0d\x0a":
            e = "<" if b[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
            btype = 0x0A0D0D0A
        blen = struct.unpack(e + "I", b[off + 4:off + 8])[0]
        if blen < 12 or off + blen > len(b):
            return
        body = b[off + 8:off + blen - 4]
        if btype == 1 and len(body) >= 8:
            ifaces.append(struct.unpack(e + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:
            ifid, _, _, caplen = struct.unpack(e + "IIII", body[:16])
            if ifid < len(ifaces):
                yield ifaces[ifid], body[20:20 + caplen]
        elif btype == 3 and len(body) >= 4 and ifaces:
            yield ifaces[0], body[4:]
        off += blen


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    n = 0
    for path in sys.argv[2:]:
        try:
            with open(path, "rb") as f:
                b = f.read()
        except OSError:
            continue
        gen = pcapng_frames(b) if b[:4] == b"\x0a\x0d\x0d\x0a" else pcap_frames(b)
        for i, (lt, frame) in enumerate(gen):
            if i == MAX_PER_FILE:
                break
            seed = bytes([selector(lt), 0]) + frame
            name = hashlib.sha1(seed).hexdigest()
            with open(os.path.join(out, name), "wb") as f:
                f.write(seed)
            n += 1
    print(f"{n} decoder seeds in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Measures the kernel-* captures in testdata/ into kernel-expected.json.

usage: python3 measure-captures.py [DIR] > kernel-expected.json

Reads classic pcap (micro- or nanosecond, either byte order), pcapng, and
.gz / .zst copies (zstd -dc). Every number written is read from the capture
files, not assumed. It also checks that each capture tells the story it was
recorded for (record-captures.sh) and exits 1 when one does not.
Standard library only; needs no root.
"""
import gzip
import json
import os
import struct
import subprocess
import sys

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# --- reading capture files ------------------------------------------------

def read_bytes(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True,
                              stdout=subprocess.PIPE).stdout
    with open(path, "rb") as f:
        return f.read()


def read_capture(path):
    """Returns (info, records); a record is (ts_ns, caplen, origlen, data)."""
    buf = read_bytes(path)
    magic = buf[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        return read_pcapng(buf)
    for end in "<>":
        m = struct.unpack(end + "I", magic)[0]
        if m in (0xA1B2C3D4, 0xA1B23C4D):
            return read_pcap(buf, end, m == 0xA1B23C4D)
    raise ValueError("%s: not a pcap or pcapng file" % path)


def read_pcap(buf, end, nano):
    _, vmaj, vmin, _, _, snaplen, linktype = struct.unpack(end + "IHHiIII", buf[:24])
    info = {"format": "pcap", "byte_order": "little" if end == "<" else "big",
            "version": "%d.%d" % (vmaj, vmin),
            "ts_precision": "ns" if nano else "us",
            "link_type": linktype & 0xFFFF, "snaplen": snaplen}
    recs = []
    off = 24
    while off + 16 <= len(buf):
        sec, frac, caplen, origlen = struct.unpack(end + "IIII", buf[off:off + 16])
        data = buf[off + 16:off + 16 + caplen]
        if len(data) != caplen:
            raise ValueError("truncated record at offset %d" % off)
        ts = sec * 10**9 + (frac if nano else frac * 1000)
        recs.append((ts, caplen, origlen, data))
        off += 16 + caplen
    if off != len(buf):
        raise ValueError("%d trailing bytes" % (len(buf) - off))
    return info, recs


BLOCK_NAMES = {0x0A0D0D0A: "SHB", 1: "IDB", 3: "SPB", 4: "NRB", 5: "ISB",
               6: "EPB", 0x0BAD: "custom", 0x40000BAD: "custom"}


def read_pcapng(buf):
    info = {"format": "pcapng", "sections": 0, "interfaces": [],
            "block_types": []}
    recs = []
    off = 0
    end = "<"
    ifaces = []
    while off < len(buf):
        if buf[off:off + 4] == b"\x0a\x0d\x0d\x0a":
            bom = buf[off + 8:off + 12]
            end = "<" if struct.unpack("<I", bom)[0] == 0x1A2B3C4D else ">"
            ifaces = []
            info["sections"] += 1
        btype, blen = struct.unpack(end + "II", buf[off:off + 8])
        body = buf[off + 8:off + blen - 4]
        if struct.unpack(end + "I", buf[off + blen - 4:off + blen])[0] != blen:
            raise ValueError("bad trailing length at offset %d" % off)
        bname = BLOCK_NAMES.get(btype, "0x%08x" % btype)
        if not info["block_types"] or info["block_types"][-1] != bname:
            info["block_types"].append(bname)
        if btype == 1:  # interface description
            linktype, _, snaplen = struct.unpack(end + "HHI", body[:8])
            tsresol = 6
            o = 8
            while o + 4 <= len(body):
                code, olen = struct.unpack(end + "HH", body[o:o + 4])
                if code == 0:
                    break
                if code == 9:
                    tsresol = body[o + 4]
                o += 4 + (olen + 3) // 4 * 4
            if tsresol & 0x80:
                raise ValueError("binary if_tsresol not handled")
            ifaces.append((linktype, snaplen, tsresol))
            info["interfaces"].append({"link_type": linktype, "snaplen": snaplen,
                                       "tsresol": tsresol})
        elif btype == 6:  # enhanced packet
            ifid, hi, lo, caplen, origlen = struct.unpack(end + "IIIII", body[:20])
            units = (hi << 32) | lo
            res = ifaces[ifid][2]
            ts = units * 10**9 // 10**res if res <= 9 else units // 10**(res - 9)
            recs.append((ts, caplen, origlen, body[20:20 + caplen]))
        off += blen
    return info, recs


# --- decoding -------------------------------------------------------------

def ip_str(b):
    if len(b) == 4:
        return ".".join(str(x) for x in b)
    import ipaddress
    return str(ipaddress.IPv6Address(b))


def decode(rec, linktype):
    """Returns a dict for a TCP packet, or None. Payload length comes from the
    IP length fields so that snaplen-truncated packets still count right."""
    ts, caplen, origlen, d = rec
    if linktype != 1:
        raise ValueError("link type %d not handled" % linktype)
    etype = struct.unpack(">H", d[12:14])[0]
    p = 14
    if etype == 0x0800:
        ihl = (d[p] & 0x0F) * 4
        total = struct.unpack(">H", d[p + 2:p + 4])[0]
        if d[p + 9] != 6:
            return None
        src, dst = d[p + 12:p + 16], d[p + 16:p + 20]
        tcp_len = total - ihl
        t = p + ihl
    elif etype == 0x86DD:
        plen = struct.unpack(">H", d[p + 4:p + 6])[0]
        if d[p + 6] != 6:
            return None
        src, dst = d[p + 8:p + 24], d[p + 24:p + 40]
        tcp_len = plen
        t = p + 40
    else:
        return None
    sport, dport, seq, ack, off_flags, win = struct.unpack(">HHIIHH", d[t:t + 16])
    doff = (off_flags >> 12) * 4
    return {"ts": ts, "src": (ip_str(src), sport), "dst": (ip_str(dst), dport),
            "seq": seq, "ack": ack, "flags": off_flags & 0x3F, "win": win,
            "payload": tcp_len - doff, "truncated": caplen < origlen}


# --- connections ----------------------------------------------------------

class Conn:
    def __init__(self, pkt):
        f = pkt["flags"]
        self.syn_seen = bool(f & SYN and not f & ACK)
        self.orig, self.resp = pkt["src"], pkt["dst"]
        self.syn_ts, self.isn = [], None
        self.synack_ts = None
        self.established = False
        self.rst_answer = None  # RST/ACK answering the SYN
        self.pkts = [0, 0]
        self.payload = [0, 0]
        self.fin = [None, None]
        self.rst = [None, None]
        self.first_ts = self.last_ts = pkt["ts"]
        self.events = []
        self.truncated = 0

    def over(self):
        return any(self.rst) or all(x is not None for x in self.fin)

    def update(self, pkt):
        d = 0 if pkt["src"] == self.orig else 1
        f, ts = pkt["flags"], pkt["ts"]
        self.pkts[d] += 1
        self.payload[d] += pkt["payload"]
        self.last_ts = ts
        self.truncated += pkt["truncated"]
        self.events.append((ts, d, pkt))
        if f & SYN and not f & ACK and d == 0:
            self.syn_ts.append(ts)
            self.isn = pkt["seq"]
        elif f & SYN and f & ACK and d == 1 and self.synack_ts is None:
            self.synack_ts = ts
        elif (d == 0 and self.synack_ts is not None and not self.established
              and f & ACK and not f & (SYN | RST)):
            self.established = True
        if f & RST:
            if d == 1 and self.synack_ts is None and self.rst_answer is None:
                self.rst_answer = pkt
            if self.rst[d] is None:
                self.rst[d] = ts
        if f & FIN and self.fin[d] is None:
            self.fin[d] = ts

    def closed_first(self):
        cands = [(t, d, how) for d in (0, 1)
                 for t, how in ((self.fin[d], "fin"), (self.rst[d], "rst"))
                 if t is not None]
        if not self.established or not cands:
            return None, None
        t, d, how = min(cands)
        return ("orig", "resp")[d], how

    def scenario(self):
        if not self.syn_seen:
            return "midstream"
        if self.synack_ts is None:
            return "refused" if self.rst_answer is not None else "unanswered"
        if not self.established:
            return "handshake_incomplete"
        if any(self.rst):
            return "reset"
        fins = sum(x is not None for x in self.fin)
        if fins == 2:
            who, _ = self.closed_first()
            if who == "resp" and self.payload[1] == 0:
                return "accepted_then_closed"
            return "completed"
        if fins == 1:
            return "half_closed"
        return "open"

    def think_times(self):
        """Time from each request (orig payload after the previous answer) to
        the first payload of its answer from the responder."""
        out, req = [], None
        for ts, d, p in self.events:
            if p["payload"] <= 0:
                continue
            if d == 0:
                if req is None:
                    req = [ts, 0, 0]
                req[1] += p["payload"]
            elif req is not None:
                out.append({"request_bytes": req[1], "think_s": secs(ts - req[0])})
                req = None
        return out


def secs(ns):
    return round(ns / 1e9, 9)


def ts_str(ns, nano):
    return "%d.%09d" % divmod(ns, 10**9) if nano else "%d.%06d" % (ns // 10**9, ns % 10**9 // 1000)


def track(pkts):
    table, conns = {}, []
    for p in pkts:
        key = frozenset((p["src"], p["dst"]))
        c = table.get(key)
        f = p["flags"]
        new_syn = f & SYN and not f & ACK
        if c is None or (new_syn and c.isn is not None and p["seq"] != c.isn
                         and c.over()):
            c = Conn(p)
            table[key] = c
            conns.append(c)
        c.update(p)
    return conns


def describe(c, nano, with_think):
    who, how = c.closed_first()
    iv = [secs(b - a) for a, b in zip(c.syn_ts, c.syn_ts[1:])]
    if not nano:
        iv = [round(x, 6) for x in iv]
    out = {
        "client_ip": c.orig[0], "client_port": c.orig[1],
        "server_ip": c.resp[0], "server_port": c.resp[1],
        "scenario": c.scenario(),
        "syn_count": len(c.syn_ts),
        "syn_retry_intervals_s": iv,
        "answered_by": ("synack" if c.synack_ts is not None else
                        "rst" if c.rst_answer is not None else None),
        "closed_first": who,
        "close_how": how,
        "fin_from_client": c.fin[0] is not None,
        "fin_from_server": c.fin[1] is not None,
        "rst_from_client": c.rst[0] is not None,
        "rst_from_server": c.rst[1] is not None,
        "packets_from_client": c.pkts[0],
        "packets_from_server": c.pkts[1],
        "payload_bytes_from_client": c.payload[0],
        "payload_bytes_from_server": c.payload[1],
        "duration_s": secs(c.last_ts - c.first_ts),
        "first_ts": ts_str(c.first_ts, nano),
    }
    if c.synack_ts is not None and c.syn_ts:
        out["handshake_rtt_s"] = secs(c.synack_ts - c.syn_ts[-1])
    if c.isn is not None:
        out["isn"] = c.isn
    if with_think:
        out["server_think_times"] = c.think_times()
    return out


def measure(info, recs, with_think=False):
    lt = info.get("link_type")
    if lt is None:
        lt = info["interfaces"][0]["link_type"]
    pkts = [p for p in (decode(r, lt) for r in recs) if p is not None]
    nano = info.get("ts_precision") == "ns" or any(
        i["tsresol"] == 9 for i in info.get("interfaces", []))
    conns = track(pkts)
    return conns, {
        **info,
        "packets": len(recs),
        "tcp_packets": len(pkts),
        "truncated_packets": sum(r[1] < r[2] for r in recs),
        "first_ts": ts_str(recs[0][0], nano) if recs else None,
        "last_ts": ts_str(recs[-1][0], nano) if recs else None,
        "tcp_connections": len(conns),
        "connections": [describe(c, nano, with_think) for c in conns],
    }


# --- the story each capture was recorded to tell ---------------------------

FAILS = []


def check(name, cond, what):
    if not cond:
        FAILS.append("%s: %s" % (name, what))


def check_one(name, m, scenario, client, server, closer, up=None, down=None):
    check(name, m["tcp_connections"] == 1, "%d connections" % m["tcp_connections"])
    if not m["connections"]:
        return
    c = m["connections"][0]
    check(name, c["scenario"] == scenario, "scenario %s" % c["scenario"])
    check(name, (c["client_ip"], c["client_port"]) == client, "client %s" % c["client_ip"])
    check(name, (c["server_ip"], c["server_port"]) == server, "server %s" % c["server_ip"])
    check(name, c["closed_first"] == closer, "closed_first %s" % c["closed_first"])
    if up is not None:
        check(name, c["payload_bytes_from_client"] == up, "client bytes")
    if down is not None:
        check(name, c["payload_bytes_from_server"] == down, "server bytes")


def near(x, want, tol):
    return abs(x - want) <= tol


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    L4 = "127.0.0.1"
    files = {}
    parsed = {}

    def load(name, with_think=False):
        info, recs = read_capture(os.path.join(d, name))
        parsed[name] = (info, recs)
        conns, m = measure(info, recs, with_think)
        files[name] = m
        return m, conns

    for name in ("kernel-completed.pcap", "kernel-completed-nano.pcap",
                 "kernel-snaplen64.pcap", "kernel-completed.pcap.gz",
                 "kernel-completed.pcap.zst"):
        m, _ = load(name)
        check_one(name, m, "completed", (L4, 40000), (L4, 2323), "resp", 55, 146)
        c = m["connections"][0]
        check(name, c["fin_from_client"] and c["fin_from_server"], "both FINs")
        check(name, c["syn_count"] == 1, "one SYN")
    check("kernel-completed-nano.pcap",
          files["kernel-completed-nano.pcap"]["ts_precision"] == "ns", "nano")
    check("kernel-snaplen64.pcap",
          files["kernel-snaplen64.pcap"]["snaplen"] == 64 and
          files["kernel-snaplen64.pcap"]["truncated_packets"] ==
          files["kernel-snaplen64.pcap"]["packets"], "all packets truncated to 64")
    raw = parsed["kernel-completed.pcap"][1]
    for z in ("kernel-completed.pcap.gz", "kernel-completed.pcap.zst"):
        check(z, parsed[z][1] == raw, "same records as kernel-completed.pcap")

    m, _ = load("kernel-ipv6-completed.pcap")
    check_one("kernel-ipv6-completed.pcap", m, "completed", ("::1", 40000),
              ("::1", 2326), "resp", 55, 146)

    name = "kernel-refused.pcap"
    m, conns = load(name)
    check(name, m["tcp_connections"] == 3, "%d connections" % m["tcp_connections"])
    check(name, len({c.isn for c in conns}) == 3, "three distinct ISNs")
    for c in m["connections"]:
        check(name, c["scenario"] == "refused", "scenario %s" % c["scenario"])
        check(name, (c["client_port"], c["server_port"]) == (40001, 2324), "tuple")
        check(name, c["syn_count"] == 1 and c["packets_from_server"] == 1, "SYN, RST")
    for c in conns:
        r = c.rst_answer
        check(name, r is not None and r["flags"] == RST | ACK and r["seq"] == 0
              and r["ack"] == (c.isn + 1) % 2**32 and r["win"] == 0,
              "RST/ACK seq 0 ack ISN+1 win 0")
    gaps = [secs(b.first_ts - a.first_ts) for a, b in zip(conns, conns[1:])]
    m["attempt_intervals_s"] = [round(g, 6) for g in gaps]
    check(name, all(near(g, 0.5, 0.1) for g in gaps), "attempts 0.5 s apart")

    name = "kernel-unanswered.pcap"
    m, _ = load(name)
    check_one(name, m, "unanswered", (L4, 40000), (L4, 2325), None, 0, 0)
    c = m["connections"][0]
    check(name, c["syn_count"] == 3 and c["packets_from_server"] == 0, "3 SYNs, no reply")
    iv = c["syn_retry_intervals_s"]
    check(name, len(iv) == 2 and near(iv[0], 1, 0.2) and near(iv[1], 2, 0.3),
          "retries at ~1 s and ~2 s: %s" % iv)
    c["syn_retry_intervals_nominal_s"] = [1, 2]

    name = "kernel-accepted-closed.pcap"
    m, _ = load(name)
    check_one(name, m, "accepted_then_closed", (L4, 40000), (L4, 2328), "resp", 0, 0)
    c = m["connections"][0]
    c["server_silence_s"] = None
    conns, _ = measure(*parsed[name])
    cc = conns[0]
    if cc.fin[1] is not None and cc.synack_ts is not None:
        c["server_silence_s"] = secs(cc.fin[1] - cc.synack_ts)
        check(name, near(c["server_silence_s"], 1.0, 0.2), "server FIN after ~1 s")

    name = "kernel-reset.pcap"
    m, _ = load(name)
    check_one(name, m, "reset", (L4, 40000), (L4, 2329), "orig", 20, 30)
    c = m["connections"][0]
    check(name, c["close_how"] == "rst" and not c["fin_from_client"]
          and not c["fin_from_server"] and not c["rst_from_server"], "client RST only")

    name = "kernel-half-closed.pcap"
    m, _ = load(name)
    check_one(name, m, "half_closed", (L4, 40000), (L4, 2330), "orig", 40, 0)
    c = m["connections"][0]
    check(name, c["fin_from_client"] and not c["fin_from_server"], "client FIN only")

    name = "kernel-open.pcap"
    m, _ = load(name)
    check_one(name, m, "open", (L4, 40000), (L4, 2331), None, 12, 14)

    name = "kernel-response-times.pcap"
    m, _ = load(name, with_think=True)
    check_one(name, m, "completed", (L4, 40000), (L4, 2327), "orig", 6, 27)
    c = m["connections"][0]
    tt = c["server_think_times"]
    check(name, [t["request_bytes"] for t in tt] == [2, 2, 2], "three 2-byte requests")
    check(name, len(tt) == 3 and near(tt[0]["think_s"], 0.05, 0.03)
          and near(tt[1]["think_s"], 0.2, 0.05) and near(tt[2]["think_s"], 0.05, 0.03),
          "think times ~0.05, 0.2, 0.05 s")
    c["server_think_times_nominal_s"] = [0.05, 0.2, 0.05]

    name = "kernel-mixed.pcapng"
    m, _ = load(name)
    check(name, m["tcp_connections"] == 4, "4 connections")
    check(name, [c["scenario"] for c in m["connections"]] ==
          ["completed", "refused", "refused", "refused"], "completed then 3 refused")
    check(name, [r[3] for r in parsed[name][1]] ==
          [r[3] for r in parsed["kernel-completed.pcap"][1] + parsed["kernel-refused.pcap"][1]],
          "same packets as kernel-completed.pcap + kernel-refused.pcap")

    # Rotated: each part alone, then both parts read as one capture.
    for name in ("kernel-rotated-1.pcap", "kernel-rotated-2.pcap"):
        load(name)
    r1, r2 = parsed["kernel-rotated-1.pcap"][1], parsed["kernel-rotated-2.pcap"][1]
    check("kernel-rotated", r1 and r2 and r1[-1][0] <= r2[0][0], "parts in time order")
    _, merged = measure(parsed["kernel-rotated-1.pcap"][0], r1 + r2)
    check("kernel-rotated", merged["tcp_connections"] == 3, "3 connections merged")
    for i, c in enumerate(merged["connections"]):
        check("kernel-rotated", c["scenario"] == "completed" and
              (c["client_port"], c["server_port"]) == (40000 + i, 2332),
              "merged connection %d completed" % i)
    spans = [c["scenario"] for c in files["kernel-rotated-2.pcap"]["connections"]]
    check("kernel-rotated", "midstream" in spans, "a connection spans the split")
    merged["files"] = ["kernel-rotated-1.pcap", "kernel-rotated-2.pcap"]
    for k in ("format", "byte_order", "version", "ts_precision", "link_type", "snaplen"):
        merged.pop(k, None)

    out = {
        "about": "Facts measured from the kernel-* captures by measure-captures.py; "
                 "see README.md. Times are seconds read from the files; *_nominal_s "
                 "are what the recording asked for. Connections are listed in the "
                 "order of their first packet; client is the sender of the first SYN.",
        "files": files,
        "merged": {"kernel-rotated-1.pcap+kernel-rotated-2.pcap": merged},
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if FAILS:
        for f in FAILS:
            print("measure-captures: " + f, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

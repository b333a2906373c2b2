#!/usr/bin/env python3
"""tcpaudit - tests: per-connection RTT compared with tcptrace and tshark.

For every capture given (files, or directories searched for captures), runs
`tcpaudit report -f json`, `tcptrace -r -l -n --csv` and `tshark` (field
tcp.analysis.ack_rtt), matches connections by their address/port tuple and
start time, and prints how well the figures of each leg agree. A leg is one
direction of round trips as seen at the capture point: `to_resp` is the
originator's segments matched to the responder's ACKs (tcptrace's a2b when
a is the originator); `to_orig` the other way (docs/latency.md).

Not part of CI: a tool that is not installed is skipped. Python 3 standard
library only.

usage: rtt-compare.py [--tcpaudit BIN] [--tol-ms MS] [--tol-rel R]
                      [--show N] CAPTURE_OR_DIR...
Exit status: 0 always when it ran (agreement is printed, not judged),
2 on a setup problem.
"""
import argparse
import csv
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

CAPTURE = re.compile(r"\.(pcap|pcapng|cap)(\.(gz|zst))?$")


def captures(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in sorted(os.walk(p)):
                for f in sorted(files):
                    if CAPTURE.search(f):
                        yield os.path.join(root, f)
        elif os.path.exists(p):
            yield p


def norm_ip(ip):
    return ip.strip().lower()


def key(a_ip, a_port, b_ip, b_port):
    """Unordered tuple key and whether (a, b) is in the key's order."""
    x, y = (norm_ip(a_ip), int(a_port)), (norm_ip(b_ip), int(b_port))
    return (min(x, y), max(x, y)), x <= y


# A leg without samples: the report writes null for it.
NO_SAMPLES = {"samples": 0, "min": None, "avg": None, "max": None}


def tcpaudit_legs(binary, path):
    """{tuple: [(start, {'to_resp': leg, 'to_orig': leg, orig endpoint})]}"""
    r = subprocess.run([binary, "report", "-f", "json", path],
                       capture_output=True, text=True)
    if r.returncode not in (0, 3) or not r.stdout:
        return None
    rep = json.loads(r.stdout)
    out = {}
    for c in rep["connections"]:
        o, s = c["orig"], c["resp"]
        k, _ = key(o["ip"], o["port"], s["ip"], s["port"])
        start = c["first_ts"]
        rtt = c["rtt"] or {}  # null when nothing was measured
        out.setdefault(k, []).append({
            "start": start, "orig": (norm_ip(o["ip"]), int(o["port"])),
            "legs": {leg: rtt.get(leg) or NO_SAMPLES
                     for leg in ("to_resp", "to_orig")},
            "id": c["id"]})
    return out


def tcptrace_legs(path):
    """{tuple: [ {(sender endpoint): {samples, min, avg, max}} ]} in ms."""
    if not shutil.which("tcptrace"):
        return None
    r = subprocess.run(["tcptrace", "-r", "-l", "-n", "--csv", path],
                       capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines()
             if l and not l.startswith("#")]
    if not lines:
        return {}
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    head = [h.strip() for h in rows[0]]
    out = {}
    for row in rows[1:]:
        if len(row) < len(head):
            continue
        d = {h: v.strip() for h, v in zip(head, row)}
        try:
            a = (norm_ip(d["host_a"]), int(d["port_a"]))
            b = (norm_ip(d["host_b"]), int(d["port_b"]))
        except (KeyError, ValueError):
            continue
        k, _ = key(a[0], a[1], b[0], b[1])
        legs = {}
        for sender, sfx in ((a, "a2b"), (b, "b2a")):
            n = int(d.get("RTT_samples_" + sfx, "0") or 0)
            legs[sender] = {
                "samples": n,
                "min": float(d["RTT_min_" + sfx]) / 1e3 if n else None,
                "avg": float(d["RTT_avg_" + sfx]) / 1e3 if n else None,
                "max": float(d["RTT_max_" + sfx]) / 1e3 if n else None}
        out.setdefault(k, []).append(legs)
    return out


def tshark_legs(path):
    """{tuple: [ {(sender of the acked data): {samples, min, avg, max}} ]}"""
    if not shutil.which("tshark"):
        return None
    fields = ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
              "ipv6.dst", "tcp.dstport", "tcp.analysis.ack_rtt"]
    cmd = ["tshark", "-n", "-r", path, "-Y", "tcp", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True)
    streams = {}
    for line in r.stdout.splitlines():
        v = line.split("\t")
        if len(v) < len(fields):
            continue
        stream, s4, s6, sp, d4, d6, dp, rtt = v[:8]
        if not stream or not sp or not dp:
            continue
        src, dst = (s4 or s6, int(sp)), (d4 or d6, int(dp))
        src, dst = (norm_ip(src[0]), src[1]), (norm_ip(dst[0]), dst[1])
        st = streams.setdefault(int(stream), {"tuple": key(
            src[0], src[1], dst[0], dst[1])[0], "legs": {}})
        if rtt:
            # an ACK from src measures the segments sent by dst
            st["legs"].setdefault(dst, []).append(float(rtt))
    out = {}
    for _, st in sorted(streams.items()):
        legs = {}
        for sender, xs in st["legs"].items():
            legs[sender] = {"samples": len(xs), "min": min(xs),
                            "avg": sum(xs) / len(xs), "max": max(xs)}
        out.setdefault(st["tuple"], []).append(legs)
    return out


def close(a, b, tol_s, tol_rel):
    return abs(a - b) <= max(tol_s, tol_rel * max(abs(a), abs(b)))


class Tally:
    def __init__(self, name, resolution_s):
        self.name = name
        self.res = resolution_s
        self.legs = 0
        self.ok = {"min": 0, "avg": 0, "max": 0}
        self.ratio = []
        self.worst = []
        self.only_ours = 0
        self.only_theirs = 0

    def add(self, where, ours, theirs, tol_s, tol_rel):
        tol = max(tol_s, self.res)
        n1, n2 = ours["samples"], theirs["samples"]
        if n1 == 0 and n2 == 0:
            return
        if n1 == 0:
            self.only_theirs += 1
            return
        if n2 == 0:
            self.only_ours += 1
            return
        self.legs += 1
        self.ratio.append(n1 / n2)
        for f in ("min", "avg", "max"):
            if close(ours[f], theirs[f], tol, tol_rel):
                self.ok[f] += 1
            else:
                self.worst.append((abs(ours[f] - theirs[f]), where, f,
                                   ours[f], theirs[f], n1, n2))

    def report(self, show):
        print(f"\n== tcpaudit vs {self.name} ==")
        if not self.legs:
            print("  no leg with samples on both sides")
        else:
            for f in ("min", "avg", "max"):
                pct = 100.0 * self.ok[f] / self.legs
                print(f"  {f:>3}: {self.ok[f]}/{self.legs} legs agree "
                      f"({pct:.1f}%)")
            print(f"  samples ours/theirs: median ratio "
                  f"{statistics.median(self.ratio):.2f}, "
                  f"min {min(self.ratio):.2f}, max {max(self.ratio):.2f}")
        print(f"  legs with samples only in tcpaudit: {self.only_ours}, "
              f"only in {self.name}: {self.only_theirs}")
        for d, where, f, a, b, n1, n2 in sorted(self.worst,
                                                reverse=True)[:show]:
            print(f"  differs: {where} {f}: tcpaudit {a * 1e3:.3f} ms "
                  f"({n1} samples), {self.name} {b * 1e3:.3f} ms "
                  f"({n2} samples)")


def pair(ours_list, theirs_list):
    """Connections on one tuple in order of start; tools may split tuple
    reuse differently, so only equal counts are paired."""
    if len(ours_list) != len(theirs_list):
        return []
    return list(zip(sorted(ours_list, key=lambda c: c["start"]), theirs_list))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcpaudit", default="build/tcpaudit")
    ap.add_argument("--tol-ms", type=float, default=0.05,
                    help="absolute tolerance in ms (default 0.05)")
    ap.add_argument("--tol-rel", type=float, default=0.05,
                    help="relative tolerance (default 0.05)")
    ap.add_argument("--show", type=int, default=8,
                    help="largest differences to list per tool")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    if not os.access(a.tcpaudit, os.X_OK):
        print(f"rtt-compare: {a.tcpaudit} is not executable", file=sys.stderr)
        return 2
    tol_s = a.tol_ms / 1e3
    # tcptrace prints RTTs in ms with one decimal: 0.05 ms of rounding
    tallies = {"tcptrace": Tally("tcptrace", 0.05e-3),
               "tshark": Tally("tshark", 0.0)}
    absent = set()
    files = 0
    for path in captures(a.paths):
        ours = tcpaudit_legs(a.tcpaudit, path)
        if ours is None:
            print(f"skip {path}: tcpaudit could not read it")
            continue
        files += 1
        name = os.path.basename(path)
        for tool, fn in (("tcptrace", tcptrace_legs), ("tshark", tshark_legs)):
            theirs = fn(path)
            if theirs is None:
                absent.add(tool)
                continue
            for k, conns in ours.items():
                for c, t in pair(conns, theirs.get(k, [])):
                    other = [e for e in (k[0], k[1]) if e != c["orig"]]
                    resp = other[0] if other else c["orig"]
                    for leg, sender in (("to_resp", c["orig"]),
                                        ("to_orig", resp)):
                        th = t.get(sender, {"samples": 0})
                        where = f"{name} conn {c['id']} {leg}"
                        tallies[tool].add(where, c["legs"][leg], th, tol_s,
                                          a.tol_rel)
    print(f"captures read: {files}; tolerance: max({a.tol_ms} ms, "
          f"{a.tol_rel * 100:.0f}%), or the tool's print resolution")
    for tool, t in tallies.items():
        if tool in absent:
            print(f"\n== {tool}: not installed, skipped ==")
        else:
            t.report(a.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())

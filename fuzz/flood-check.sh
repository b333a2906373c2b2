#!/usr/bin/env bash
# tcpaudit - flood: the full-size SYN flood measurement. Not part of CI
# (a few minutes); tests/test_flood.c is its CI-sized version.
#
# 1. tcpaudit-flood writes SOURCES spoofed SYNs (default 5 million) to one
#    target, piped into `tcpaudit report -` with the default limits (or
#    --max-connections MAX). Checks: peak RSS (/usr/bin/time -v) under
#    TA_FLOOD_RSS_CAP_MB (default 512: the defaults, 262144 connections and
#    65536 hosts, need about 440 MB), every packet counted as TCP, every
#    connection reported, evictions reported, and the target named in the
#    host report as the responder of every connection.
# 2. The same with --collide-hosts (1 million SYNs from sources crafted to
#    share one probe run of an unseeded host table): CPU time per packet
#    must stay within 3x that of the plain flood.
#
# usage: fuzz/flood-check.sh [SOURCES] [MAX_CONNECTIONS]
# Uses build/ (scripts/build.sh makes it when missing); BUILD_DIR overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
sources=${1:-5000000}
maxc=${2:-}
cap_mb=${TA_FLOOD_RSS_CAP_MB:-512}
dir=${BUILD_DIR:-build}
target=203.0.113.80
[ -x "$dir/tcpaudit" ] && [ -x "$dir/tcpaudit-flood" ] || dir=$(scripts/build.sh)
[ -x /usr/bin/time ] || { echo "flood-check: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

args=(report --no-progress -f json)
[ -n "$maxc" ] && args+=(--max-connections "$maxc")

# Runs one flood; keeps the report from "hosts" on (the connections, one
# per line, are counted and dropped) and the time -v figures.
flood() { # name, flood options...
  local name=$1
  shift
  "$dir/tcpaudit-flood" -t "$target" "$@" |
    /usr/bin/time -v -o "$tmp/$name.time" "$dir/tcpaudit" "${args[@]}" - \
      2>"$tmp/$name.err" |
    awk -v conns="$tmp/$name.conns" '
      tail || /^  "hosts": \[/ { tail = 1; print; next }
      /^    \{"id":/ { n++ }
      END { print n + 0 > conns }' >"$tmp/$name.tail"
  local rc=${PIPESTATUS[1]}
  [ "$rc" = 0 ] || { echo "flood-check: tcpaudit exited $rc" >&2; cat "$tmp/$name.err" >&2; exit 1; }
}

echo "== plain flood: $sources sources, command: tcpaudit-flood -n $sources | tcpaudit ${args[*]} -" >&2
flood plain -n "$sources"
echo "== crafted host collisions: 1000000 SYNs" >&2
flood collide -n 1000000 --collide-hosts

python3 - "$tmp" "$sources" "$target" "$cap_mb" <<'EOF'
import json, re, sys
tmp, sources, target, cap_mb = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

def load(name):
    t = open(f"{tmp}/{name}.time").read()
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
    doc = json.loads("{" + open(f"{tmp}/{name}.tail").read())
    lines = int(open(f"{tmp}/{name}.conns").read())
    return doc, lines, rss_kb, user, wall

fail = []
doc, lines, rss_kb, user, wall = load("plain")
k, f = doc["packets"], doc["flows"]
host = next((h for h in doc["hosts"] if h["ip"] == target), None)
print(f"plain flood: {sources} sources, {k['total']} packets, "
      f"{f['connections']} connections ({lines} reported), {f['evicted']} evicted, "
      f"{f['hosts_overflow']} host records not aggregated, peak_open {f['peak_open']} "
      f"of {f['max_open']}, peak RSS {rss_kb // 1024} MB (cap {cap_mb} MB), "
      f"{user:.1f} s CPU, {wall} wall")
if k["total"] != sources + 8 or k["tcp"] != k["total"]:
    fail.append(f"packets: total {k['total']}, tcp {k['tcp']}, expected {sources + 8}")
if lines != f["connections"]:
    fail.append(f"{lines} connections reported, {f['connections']} created")
if f["connections"] > f["max_open"] and f["evicted"] == 0:
    fail.append("more connections than the table holds, but none evicted")
if rss_kb > cap_mb * 1024:
    fail.append(f"peak RSS {rss_kb} KB over the cap of {cap_mb} MB")
if not host:
    fail.append(f"the target {target} is not in the host report")
elif host["as_responder"]["connections"] != f["connections"]:
    fail.append(f"the target answers for {host['as_responder']['connections']} "
                f"connections, not {f['connections']}")
else:
    print(f"target {target}: responder of {host['as_responder']['connections']} "
          f"connections, by scenario {host['as_responder']['by_scenario']}")
plain_per = user / (sources + 8)

doc, lines, rss_kb, user, wall = load("collide")
per = user / (1000000 + 8)
print(f"crafted host collisions: 1000000 SYNs, {user:.1f} s CPU, {wall} wall, "
      f"{per / plain_per:.2f}x the plain flood's CPU per packet")
if per > 3 * plain_per:
    fail.append("crafted host collisions slow the run down more than 3x")
for m in fail:
    print("FAIL: " + m)
sys.exit(1 if fail else 0)
EOF

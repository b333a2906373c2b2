#!/usr/bin/env bash
# Records the kernel-*.pcap* captures in testdata/: real Linux TCP behaviour
# (completed, refused, unanswered, accepted then closed, reset, half closed,
# open, IPv6, response times, nanosecond, snaplen, pcapng, compressed and
# rotated files), then measures them into kernel-expected.json.
#
# Run as root:  sudo bash testdata/record-captures.sh [OUTDIR]
# OUTDIR defaults to the directory of this script. Every capture is made in
# a network namespace of its own (created here, deleted on exit), on lo,
# over 127.0.0.1 or ::1 only. The shape of each capture is fixed; its
# timing naturally varies from one recording to the next.
#
# Needs: tcpdump, iproute2, iptables, python3, gzip, zstd and editcap /
# mergecap (Debian: apt-get install -y tcpdump iproute2 iptables python3
# gzip zstd wireshark-common).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "record-captures.sh: must run as root (network namespaces, iptables)" >&2
  exit 1
fi
for tool in tcpdump ip iptables python3 gzip zstd editcap mergecap; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "record-captures.sh: missing $tool (apt-get install -y tcpdump" \
      "iproute2 iptables python3 gzip zstd wireshark-common)" >&2
    exit 1
  fi
done

WORK=$(mktemp -d /tmp/tcpaudit-record.XXXXXX)
NS_LIST=()
TCPDUMP_PID=
SCEN_PID=

cleanup() {
  set +e
  if [ -n "$SCEN_PID" ]; then kill "$SCEN_PID" 2>/dev/null; wait "$SCEN_PID" 2>/dev/null; fi
  if [ -n "$TCPDUMP_PID" ]; then kill "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
  for ns in "${NS_LIST[@]}"; do
    [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the programs on both ends: one python3 file, one function per scenario
cat >"$WORK/scenario.py" <<'PY'
"""Client and server of one recorded scenario, in one process.

usage: scenario.py NAME
Listening sockets are made before the client starts. Scenarios that must
stay open while the capture stops create $READY_FILE when the story is told,
then wait for $RELEASE_FILE before closing their sockets.
"""
import os
import socket
import struct
import sys
import threading
import time

V4 = "127.0.0.1"
V6 = "::1"
CLIENT_PORT = 40000   # fixed client port: the tuple is the same every recording


def payload(tag, n):
    """n bytes of readable text starting with tag and ending with a newline."""
    head = (tag + " ").encode()
    assert len(head) < n
    return head + b"x" * (n - len(head) - 1) + b"\n"


def listener(host, port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(8)
    return s


def client(host, port, cport=CLIENT_PORT, family=socket.AF_INET, nodelay=False):
    c = socket.socket(family, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if nodelay:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.bind((host, cport))
    c.connect((host, port))
    return c


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def recv_to_eof(s):
    buf = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return buf
        buf += chunk


def recv_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            return buf
        buf += chunk
    return buf


def run_server(fn, *args):
    t = threading.Thread(target=fn, args=args)
    t.start()
    return t


def hold():
    """Story told: let the capture stop while the sockets are still open."""
    open(os.environ["READY_FILE"], "w").close()
    deadline = time.time() + 60
    while not os.path.exists(os.environ["RELEASE_FILE"]):
        if time.time() > deadline:
            raise SystemExit("no release after 60 s")
        time.sleep(0.02)


# 55 bytes up, 146 bytes down, the server closes first, then the client.
def completed(host=V4, port=2323, family=socket.AF_INET):
    ls = listener(host, port, family)

    def server():
        conn, _ = ls.accept()
        recv_exact(conn, 55)
        conn.sendall(payload("response", 146))
        conn.close()

    t = run_server(server)
    c = client(host, port, family=family)
    c.sendall(payload("request", 55))
    got = recv_to_eof(c)
    assert len(got) == 146, len(got)
    c.close()
    t.join()
    ls.close()


def ipv6_completed():
    completed(V6, 2326, socket.AF_INET6)


# Three connect() calls to a closed port from one source port, 0.5 s apart.
def refused(port=2324, cport=40001):
    for i in range(3):
        if i:
            time.sleep(0.5)
        try:
            client(V4, port, cport).close()
        except ConnectionRefusedError:
            continue
        raise SystemExit("connect to closed port %d succeeded" % port)


# SYNs dropped by iptables; TCP_SYNCNT 2 gives up after SYN + 2 retries.
def unanswered(port=2325):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 2)
    c.bind((V4, CLIENT_PORT))
    try:
        c.connect((V4, port))
    except (TimeoutError, socket.timeout):
        c.close()
        return
    raise SystemExit("connect through the DROP rule succeeded")


# The server accepts, says nothing for 1.0 s, then closes (tcp-wrappers style).
def accepted_closed(port=2328):
    ls = listener(V4, port)

    def server():
        conn, _ = ls.accept()
        time.sleep(1.0)
        conn.close()

    t = run_server(server)
    c = client(V4, port)
    assert recv_to_eof(c) == b""
    c.close()
    t.join()
    ls.close()


# Data both ways, then the client aborts: SO_LINGER {1, 0} close sends RST.
def reset(port=2329):
    ls = listener(V4, port)

    def server():
        conn, _ = ls.accept()
        recv_exact(conn, 20)
        conn.sendall(payload("reply", 30))
        try:
            recv_to_eof(conn)
        except ConnectionResetError:
            pass
        conn.close()

    t = run_server(server)
    c = client(V4, port)
    c.sendall(payload("hello", 20))
    recv_exact(c, 30)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    t.join()
    ls.close()


# The client sends and shuts down its write side; the server reads to EOF and
# keeps its socket open until after the capture stopped.
def half_closed(port=2330):
    ls = listener(V4, port)
    c = client(V4, port)
    conn, _ = ls.accept()
    c.sendall(payload("upload", 40))
    c.shutdown(socket.SHUT_WR)
    assert len(recv_to_eof(conn)) == 40
    hold()
    conn.close()
    c.close()
    ls.close()


# A little data both ways; both sockets stay open until the capture stopped.
def open_conn(port=2331):
    ls = listener(V4, port)
    c = client(V4, port)
    conn, _ = ls.accept()
    c.sendall(payload("ping", 12))
    recv_exact(conn, 12)
    conn.sendall(payload("pong", 14))
    recv_exact(c, 14)
    hold()
    conn.close()
    c.close()
    ls.close()


# One persistent connection: "A\n" is answered after 50 ms, "B\n" after 200 ms.
def response_times(port=2327):
    ls = listener(V4, port)
    think = {b"A\n": 0.050, b"B\n": 0.200}

    def server():
        conn, _ = ls.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            req = recv_line(conn)
            if not req:
                break
            time.sleep(think[req])
            conn.sendall(b"answer " + req)
        conn.close()

    t = run_server(server)
    c = client(V4, port, nodelay=True)
    for req in (b"A\n", b"B\n", b"A\n"):
        c.sendall(req)
        assert recv_line(c) == b"answer " + req
    c.close()
    t.join()
    ls.close()


# Three completed connections over about 1.5 s; the second one lasts from
# 0.7 s to about 1.3 s so that it spans the 1 s split of the rotated files.
def rotated(port=2332):
    ls = listener(V4, port)
    delays = [0.0, 0.6, 0.0]

    def server():
        for d in delays:
            conn, _ = ls.accept()
            recv_exact(conn, 32)
            time.sleep(d)
            conn.sendall(payload("response", 64))
            conn.close()

    t = run_server(server)
    start = time.monotonic()
    for i, at in enumerate((0.0, 0.7, 1.5)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        c = client(V4, port, CLIENT_PORT + i)
        c.sendall(payload("request", 32))
        assert len(recv_to_eof(c)) == 64
        c.close()
    t.join()
    ls.close()


SCENARIOS = {
    "completed": completed,
    "ipv6_completed": ipv6_completed,
    "refused": refused,
    "unanswered": unanswered,
    "accepted_closed": accepted_closed,
    "reset": reset,
    "half_closed": half_closed,
    "open": open_conn,
    "response_times": response_times,
    "rotated": rotated,
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
PY

# --- one capture: a fresh namespace, tcpdump on its lo, the scenario, checks
# usage: capture FILE PORT SCENARIO [extra tcpdump options...]
# HOLD=1 in the environment: stop tcpdump while the scenario's sockets are
# still open (the scenario waits for the release file before closing them).
# SETUP, when set, is a command run inside the namespace before tcpdump.
capture() {
  local file=$1 port=$2 scen=$3
  shift 3
  local ns="tcpaudit-rec-$$-${scen//_/-}"
  local log="$WORK/$scen.tcpdump.log"
  local ready="$WORK/$scen.ready" release="$WORK/$scen.release"
  rm -f "$ready" "$release"

  NS_LIST+=("$ns")
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  if [ -n "${SETUP:-}" ]; then
    ip netns exec "$ns" sh -c "$SETUP"
  fi

  ip netns exec "$ns" tcpdump -i lo --immediate-mode -U "$@" \
    -w "$WORK/$file" "tcp port $port" 2>"$log" &
  TCPDUMP_PID=$!
  local i
  for i in $(seq 100); do
    grep -q "listening on" "$log" && break
    sleep 0.05
  done
  grep -q "listening on" "$log" || { cat "$log" >&2; exit 1; }
  sleep 0.2

  READY_FILE=$ready RELEASE_FILE=$release \
    ip netns exec "$ns" python3 "$WORK/scenario.py" "$scen" &
  SCEN_PID=$!
  if [ "${HOLD:-0}" = 1 ]; then
    for i in $(seq 200); do
      [ -e "$ready" ] && break
      kill -0 "$SCEN_PID" 2>/dev/null || break
      sleep 0.05
    done
    [ -e "$ready" ] || { echo "$scen: never got ready" >&2; exit 1; }
    sleep 0.5                      # idle, connection still open
  else
    wait "$SCEN_PID"
    SCEN_PID=
    sleep 0.3                      # let the last ACK through
  fi

  kill -INT "$TCPDUMP_PID"
  wait "$TCPDUMP_PID" || true
  TCPDUMP_PID=

  if [ "${HOLD:-0}" = 1 ]; then
    touch "$release"
    wait "$SCEN_PID"
    SCEN_PID=
  fi

  ip netns del "$ns"
  NS_LIST=("${NS_LIST[@]/$ns/}")

  if ! grep -q "^0 packets dropped by kernel" "$log"; then
    echo "$file: tcpdump dropped packets:" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "$file: $(grep 'packets captured' "$log")"
}

NO_LINEAR="if [ -e /proc/sys/net/ipv4/tcp_syn_linear_timeouts ]; then \
sysctl -q -w net.ipv4.tcp_syn_linear_timeouts=0; fi"

capture kernel-completed.pcap          2323 completed
capture kernel-refused.pcap            2324 refused
SETUP="iptables -A INPUT -p tcp --dport 2325 -j DROP; $NO_LINEAR" \
capture kernel-unanswered.pcap         2325 unanswered
capture kernel-accepted-closed.pcap    2328 accepted_closed
capture kernel-reset.pcap              2329 reset
HOLD=1 \
capture kernel-half-closed.pcap        2330 half_closed
HOLD=1 \
capture kernel-open.pcap               2331 open
capture kernel-ipv6-completed.pcap     2326 ipv6_completed
capture kernel-response-times.pcap     2327 response_times
capture kernel-completed-nano.pcap     2323 completed --time-stamp-precision=nano
capture kernel-snaplen64.pcap          2323 completed -s 64
capture kernel-rotated.pcap            2332 rotated

# --- files derived from the recordings
cd "$WORK"

# pcapng holding the completed and the refused recordings, in time order.
mergecap -F pcapng -w kernel-mixed.pcapng kernel-completed.pcap kernel-refused.pcap

gzip -9 -n -c kernel-completed.pcap >kernel-completed.pcap.gz
zstd -19 -q -f kernel-completed.pcap -o kernel-completed.pcap.zst

# Rotation by time, as tcpdump -G or dumpcap -b duration would leave it.
mkdir rot
editcap -F pcap -i 1 kernel-rotated.pcap rot/kernel-rotated.pcap
mapfile -t parts < <(ls rot/ | sort)
if [ "${#parts[@]}" -ne 2 ]; then
  echo "rotation gave ${#parts[@]} files, expected 2: ${parts[*]}" >&2
  exit 1
fi
mv "rot/${parts[0]}" kernel-rotated-1.pcap
mv "rot/${parts[1]}" kernel-rotated-2.pcap

for f in kernel-completed.pcap kernel-refused.pcap kernel-unanswered.pcap \
  kernel-accepted-closed.pcap kernel-reset.pcap kernel-half-closed.pcap \
  kernel-open.pcap kernel-ipv6-completed.pcap kernel-response-times.pcap \
  kernel-completed-nano.pcap kernel-snaplen64.pcap kernel-mixed.pcapng \
  kernel-completed.pcap.gz kernel-completed.pcap.zst \
  kernel-rotated-1.pcap kernel-rotated-2.pcap; do
  cp "$f" "$OUT/$f"
done

# --- measure what was recorded (also checks that each story is the intended one)
python3 "$HERE/measure-captures.py" "$OUT" >"$WORK/kernel-expected.json"
cp "$WORK/kernel-expected.json" "$OUT/kernel-expected.json"
echo "wrote $OUT/kernel-expected.json"

#!/usr/bin/env bash
# tcpaudit - bench: times tcpaudit against the libpcap floor and other tools.
# Generates the captures once (cached in bench/cache/ or $TA_BENCH_DIR),
# warms the page cache, runs every tool several times on each capture and
# writes a markdown table of medians to bench/RESULTS.md. --scale instead
# shows time and memory against capture size (100 MB, 1 GB, 4 GB).
set -euo pipefail
export LC_ALL=C # a decimal point in $EPOCHREALTIME and the tools' figures

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

usage() {
  cat <<'EOF'
usage: bench/run.sh [--runs N] [--preset NAME]... [--out FILE]
       bench/run.sh --scale [--preset NAME]...

Times, on each capture, several runs of:
  tcpaudit-floor FILE                       (a bare libpcap loop: the floor)
  tcpaudit report -f json -o /dev/null FILE
  tcpaudit report -f ndjson -o /dev/null FILE   (when the format exists)
  the same two with --threads set to the number of cores
  tcpdump -r FILE -w /dev/null              (when installed)
  tshark -q -z conv,tcp -r FILE             (when installed)
  tcptrace -n FILE                          (when installed)
  argus -r FILE -w /dev/null                (when installed)
and writes the median wall time, packets/s, connections/s, MB/s, peak RSS
and time / floor time to bench/RESULTS.md (or --out), with the machine.
The floor and tcpaudit are timed in alternating rounds under /usr/bin/time;
the other tools with hyperfine when installed, else a loop over /usr/bin/time.

  --runs N       timed runs per tool (default 5, or $TA_BENCH_RUNS)
  --preset NAME  packet-heavy and/or connection-heavy (default both)
  --out FILE     where to write the results (default bench/RESULTS.md)
  --skip TOOL    leave out floor, tcpdump, tshark, tcptrace or argus
                 (repeatable; also $TA_BENCH_SKIP, space-separated)
  --scale        generate 100 MB, 1 GB and 4 GB captures in turn (each
                 deleted after use) and print tcpaudit's time and peak RSS
                 for each, next to the floor's; written to
                 bench/RESULTS-scale.md

environment:
  TA_BUILD_DIR   build directory holding tcpaudit and bench/ (default: built
                 with scripts/build.sh)
  TA_BENCH_DIR   capture cache (default bench/cache, git-ignored)
EOF
}

runs=${TA_BENCH_RUNS:-5}
presets=()
out=$here/RESULTS.md
scale=false
skip=" ${TA_BENCH_SKIP:-} "
while [ $# -gt 0 ]; do
  case $1 in
  --runs) runs=$2; shift 2 ;;
  --preset) presets+=("$2"); shift 2 ;;
  --out) out=$2; shift 2 ;;
  --scale) scale=true; shift ;;
  --skip) skip+=" $2 "; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
done
[ ${#presets[@]} -gt 0 ] || presets=(packet-heavy connection-heavy)
[ -x /usr/bin/time ] || { echo "run.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run.sh: needs python3" >&2; exit 1; }

build=${TA_BUILD_DIR:-}
if [ -z "$build" ]; then
  build=$root/$("$root/scripts/build.sh")
fi
gen=$build/bench/tcpaudit-gen
floor=$build/bench/tcpaudit-floor
ta=$build/tcpaudit
for b in "$gen" "$floor" "$ta"; do
  [ -x "$b" ] || { echo "run.sh: $b is missing; build first" >&2; exit 1; }
done

cache=${TA_BENCH_DIR:-$here/cache}
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seed=1
gen_id=$(sha256sum "$here/gen.c" | cut -c1-16)

log() { echo "run.sh: $*" >&2; }

# gen PRESET SIZE FILE: writes FILE and FILE.meta ("bytes packets conns").
generate() {
  local preset=$1 size=$2 file=$3
  log "generating $file ($preset${size:+, $size})"
  "$gen" --preset "$preset" ${size:+--size "$size"} --seed "$seed" \
    -o "$file.part" 2>"$tmp/gen.err" || { cat "$tmp/gen.err" >&2; exit 1; }
  sed -n 's/.*: \([0-9]*\) bytes, \([0-9]*\) packets, \([0-9]*\) connections.* \([0-9]*\) open at once.*/\1 \2 \3 \4/p' \
    "$tmp/gen.err" | head -1 >"$file.meta"
  echo "$gen_id" >>"$file.meta"
  mv "$file.part" "$file"
}

# cached PRESET: prints the path of the preset's capture, generating it
# when missing or made by another version of gen.c.
cached() {
  local file=$cache/$1.pcap
  if [ ! -s "$file" ] || [ "$(sed -n 2p "$file.meta" 2>/dev/null)" != "$gen_id" ]; then
    generate "$1" "" "$file"
  fi
  echo "$file"
}

warm() { cat "$1" >/dev/null; }

# peak_rss FILE_FROM_TIME: kB
peak_rss() { sed -n 's/.*Maximum resident set size (kbytes): *//p' "$1"; }

# measure NAME CMD...: appends "name<TAB>median_s<TAB>cpu_s<TAB>rss_kb<TAB>cmd"
# to $tmp/rows (cpu_s: user + system, mean); median_s is "failed" when the
# command fails.
measure() {
  local name=$1
  shift
  local cmd="$*" median cpu rss rc=0
  case $skip in *" $name "*) log "  $name: skipped"; return ;; esac
  log "  $name: $cmd"
  /usr/bin/time -v -o "$tmp/time.txt" "$@" >/dev/null 2>"$tmp/err.txt" || rc=$?
  if [ $rc -ne 0 ] && ! { [ "$name" != "${name#tcpaudit}" ] && [ $rc -eq 3 ]; }; then
    log "  $name failed (exit $rc): $(tail -2 "$tmp/err.txt")"
    printf '%s\tfailed\t-\t-\t%s\n' "$name" "$cmd" >>"$tmp/rows"
    return
  fi
  rss=$(peak_rss "$tmp/time.txt")
  if command -v hyperfine >/dev/null; then
    hyperfine -N -i --style none --warmup 1 --runs "$runs" \
      --export-json "$tmp/hf.json" "$cmd" >/dev/null 2>&1
    read -r median cpu < <(python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["median"], r["user"] + r["system"])' "$tmp/hf.json")
  else
    : >"$tmp/times"
    for _ in $(seq "$runs"); do
      /usr/bin/time -f '%e %U %S' -o "$tmp/t1" "$@" >/dev/null 2>&1 || true
      cat "$tmp/t1" >>"$tmp/times"
    done
    median=$(sort -n "$tmp/times" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
    cpu=$(awk '{s += $2 + $3} END {print s / NR}' "$tmp/times")
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$median" "$cpu" "$rss" "$cmd" >>"$tmp/rows"
}

formats=$("$ta" --help 2>&1 | sed -n 's/.*--format FMT *report format (\([^)]*\)).*/\1/p')
has_format() { case ", $formats," in *", $1,"*) return 0 ;; *) return 1 ;; esac; }

# The floor and tcpaudit's runs are timed in alternating rounds (one run of
# each in turn), because their ratio is the figure that matters and a
# shared machine's speed drifts by tens of percent within minutes: timed
# one command after the other, a slow spell can fall on either alone.
round_names=()
round_n=0

# round_add NAME CMD...: a command for the rounds (unless skipped).
round_add() {
  local name=$1
  shift
  case $skip in *" $name "*) log "  $name: skipped"; return ;; esac
  round_names+=("$name")
  eval "round_cmd_$round_n=(\"\$@\")"
  round_n=$((round_n + 1))
}

# round_cmd I: the words of command I, one per line into the array cmd.
round_cmd() { eval "cmd=(\"\${round_cmd_$1[@]}\")"; }

# rounds: a run of each command under /usr/bin/time -v (a warm-up, and its
# peak RSS), then $runs rounds; appends their rows as measure does.
rounds() {
  local i r rc cmd=() failed=()
  for ((i = 0; i < round_n; i++)); do
    round_cmd "$i"
    log "  ${round_names[$i]}: ${cmd[*]}"
    rc=0
    /usr/bin/time -v -o "$tmp/time.$i" "${cmd[@]}" >/dev/null 2>"$tmp/err.txt" || rc=$?
    failed[$i]=false
    if [ $rc -ne 0 ] && ! { [ "$i" -gt 0 ] && [ $rc -eq 3 ]; }; then
      log "  ${round_names[$i]} failed (exit $rc): $(tail -2 "$tmp/err.txt")"
      failed[$i]=true
    fi
    : >"$tmp/times.$i"
  done
  for ((r = 1; r <= runs; r++)); do
    for ((i = 0; i < round_n; i++)); do
      ${failed[$i]} && continue
      round_cmd "$i"
      # wall from the shell's clock: /usr/bin/time's has 10 ms steps
      local t0=$EPOCHREALTIME
      /usr/bin/time -f '%U %S' -o "$tmp/t1" "${cmd[@]}" >/dev/null 2>&1 || true
      echo "$t0 $EPOCHREALTIME $(cat "$tmp/t1")" |
        awk '{printf "%.4f %s %s\n", $2 - $1, $3, $4}' >>"$tmp/times.$i"
    done
  done
  for ((i = 0; i < round_n; i++)); do
    round_cmd "$i"
    if ${failed[$i]}; then
      printf '%s\tfailed\t-\t-\t%s\n' "${round_names[$i]}" "${cmd[*]}" >>"$tmp/rows"
      continue
    fi
    local median cpu ratio=-
    median=$(awk '{print $1}' "$tmp/times.$i" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
    cpu=$(awk '{s += $2 + $3} END {print s / NR}' "$tmp/times.$i")
    # each round's time over the floor's in the same round, then their
    # median: steadier than a ratio of medians when the machine drifts
    if [ "${round_names[0]}" = floor ] && ! ${failed[0]}; then
      ratio=$(paste -d' ' "$tmp/times.0" "$tmp/times.$i" | awk '{print $4 / $1}' |
        sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${round_names[$i]}" "$median" "$cpu" \
      "$(peak_rss "$tmp/time.$i")" "${cmd[*]}" "$ratio" >>"$tmp/rows"
  done
  round_names=()
  round_n=0
}

# bench_one FILE: every tool on FILE.
bench_one() {
  local f=$1
  : >"$tmp/rows"
  warm "$f"
  round_add floor "$floor" "$f"
  round_add "tcpaudit json" "$ta" report -f json -o /dev/null --no-progress "$f"
  if has_format ndjson; then
    round_add "tcpaudit ndjson" "$ta" report -f ndjson -o /dev/null --no-progress "$f"
  fi
  if "$ta" --help 2>&1 | grep -q -- '--threads'; then
    local n
    n=$(nproc)
    round_add "tcpaudit json -j $n" "$ta" report -f json -j "$n" -o /dev/null --no-progress "$f"
    round_add "tcpaudit ndjson -j $n" "$ta" report -f ndjson -j "$n" -o /dev/null --no-progress "$f"
  fi
  rounds
  if command -v tcpdump >/dev/null; then
    measure tcpdump tcpdump -r "$f" -w /dev/null
  fi
  if command -v tshark >/dev/null; then
    measure tshark tshark -q -z conv,tcp -r "$f"
  fi
  if command -v tcptrace >/dev/null; then
    measure tcptrace tcptrace -n "$f"
  fi
  if command -v argus >/dev/null; then
    measure argus argus -r "$f" -w /dev/null
  fi
}

# table META: the markdown table of $tmp/rows.
table() {
  python3 - "$1" "$tmp/rows" <<'EOF'
import sys
meta = open(sys.argv[1]).read().split()
nbytes, packets, conns = (int(x) for x in meta[:3])
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
fl = next((r for r in rows if r[0] == "floor" and r[1] != "failed"), None)
print("| tool | median wall s | CPU s | packets/s | connections/s | MB/s "
      "| peak RSS MiB | time / floor | CPU / floor | median of round ratios |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for row in rows:
    name, med, cpu, rss, cmd = row[:5]
    rr = row[5] if len(row) > 5 and row[5] != "-" else None
    if med == "failed":
        print(f"| {name} | failed | | | | | | | | |")
        continue
    t, c = float(med), float(cpu)
    ratio = f"{t / float(fl[1]):.1f}" if fl else "-"
    cratio = f"{c / float(fl[2]):.1f}" if fl else "-"
    rratio = f"{float(rr):.2f}" if rr else "-"
    print(f"| {name} | {t:.3f} | {c:.3f} | {packets / t / 1e6:.2f} M | "
          f"{conns / t / 1e3:.1f} k | {nbytes / t / 1e6:.0f} | "
          f"{int(rss) / 1024:.0f} | {ratio} | {cratio} | {rratio} |")
EOF
}

machine() {
  local cpu mem
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  echo "- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $mem RAM, Linux $(uname -r)"
  echo "- tcpaudit $("$ta" --version | awk '{print $2}'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' plus uncommitted changes'), build $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)"
  # tool versions: each line only when the tool is installed
  local v
  if command -v tcpdump >/dev/null; then
    v=$(tcpdump --version 2>&1 | head -1 || true)
    echo "- $v"
  fi
  if command -v tshark >/dev/null; then
    v=$(tshark -v 2>/dev/null | head -1 || true)
    echo "- $v"
  fi
  if command -v tcptrace >/dev/null; then
    v=$(tcptrace -v 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1 || true)
    echo "- tcptrace $v"
  fi
  if command -v argus >/dev/null; then
    v=$(argus -h 2>&1 | sed -n 's/.*Version \([0-9.]*\).*/\1/p' | head -1 || true)
    echo "- argus $v"
  fi
  $scale && return 0
  echo "- the floor and tcpaudit rows: $runs alternating rounds (one run of each in turn) under /usr/bin/time, after one warm-up run each under /usr/bin/time -v, which gives the peak RSS"
  command -v hyperfine >/dev/null && echo "- the other tools: timed with $(hyperfine --version), $runs runs after 1 warm-up; peak RSS from one more run under /usr/bin/time -v" ||
    echo "- the other tools: timed with /usr/bin/time, median of $runs runs; peak RSS from one more run"
  return 0
}

if $scale; then
  [ "${presets[*]}" = "packet-heavy connection-heavy" ] && presets=(connection-heavy packet-heavy)
  report=$here/RESULTS-scale.md
  {
    echo "# tcpaudit scaling: time and peak memory against capture size"
    echo
    echo "Generated by \`bench/run.sh --scale\` on $(date -u +%Y-%m-%d)."
    echo
    machine
    echo "- one run each, page cache warm; captures from \`tcpaudit-gen --seed $seed\`"
    echo "- load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
  } >"$tmp/report"
  for p in "${presets[@]}"; do
    {
      echo
      echo "## $p"
      echo
      echo "| size | packets | connections | open at once (generator) | peak open (tcpaudit) | floor s | tcpaudit json s | ns/packet | tcpaudit / floor | tcpaudit peak RSS MiB |"
      echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    } >>"$tmp/report"
    for size in 100M 1G 4G; do
      f=$cache/scale-$p-$size.pcap
      generate "$p" "$size" "$f"
      warm "$f"
      /usr/bin/time -f '%e %M' -o "$tmp/fl" "$floor" "$f" >/dev/null
      rc=0
      /usr/bin/time -f '%e %M' -o "$tmp/ta" "$ta" report -f json -o /dev/null \
        --no-progress "$f" || rc=$?
      [ $rc -eq 0 ] || [ $rc -eq 3 ] || log "tcpaudit exited $rc on $f"
      # records held at once, as the report counts them (records linger
      # after their last packet, so this exceeds the generator's figure)
      po=$("$ta" report -f json -o - --no-progress "$f" 2>/dev/null |
        tail -c 100000 | tr -d ' \n' | sed -n 's/.*"peak_open":\([0-9]*\).*/\1/p')
      read -r fb fp fc fo _ <"$f.meta"
      read -r ft _ <"$tmp/fl"
      read -r tt trss <"$tmp/ta"
      python3 -c 'import sys
size, fp, fc, fo, po = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ft, tt, trss = float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
print(f"| {size} | {fp} | {fc} | {fo} | {po} | {ft:.2f} | {tt:.2f} | {tt * 1e9 / fp:.0f} | {tt / max(ft, 0.01):.1f} | {trss / 1024:.0f} |")' \
        "$size" "$fp" "$fc" "${fo:--}" "${po:--}" "$ft" "$tt" "$trss" | tee -a "$tmp/report"
      rm -f "$f" "$f.meta"
    done
  done
  cp "$tmp/report" "$report"
  echo
  cat "$report"
  exit 0
fi

{
  echo "# tcpaudit benchmark"
  echo
  echo "Generated by \`bench/run.sh\` on $(date -u +%Y-%m-%d). Median wall time"
  echo "of each tool on each capture, page cache warm; \"time / floor\" divides"
  echo "by the time of \`tcpaudit-floor\`, a bare libpcap loop that only counts"
  echo "TCP packets. Connections/s counts the connections the generator made."
  echo "CPU s is user + system time (mean), and \"CPU / floor\" its ratio: less"
  echo "disturbed than wall time when the machine is shared. \"Median of round"
  echo "ratios\" divides each round's wall time by the floor's in that round."
  echo
  machine
  echo "- load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$tmp/report"
for p in "${presets[@]}"; do
  f=$(cached "$p")
  read -r fb fp fc _ <"$f.meta"
  log "$p: $f"
  bench_one "$f"
  {
    echo
    echo "## $p"
    echo
    echo "\`tcpaudit-gen --preset $p --seed $seed\`: $fb bytes, $fp packets, $fc connections."
    echo
    table "$f.meta"
  } >>"$tmp/report"
done
echo >>"$tmp/report"
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)." >>"$tmp/report"
cp "$tmp/report" "$out"
cat "$out"

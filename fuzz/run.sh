#!/usr/bin/env bash
# tcpaudit - fuzz: builds the libFuzzer harnesses with clang in build-fuzz/,
# replays the seeds and every testdata/crash-* regression, then fuzzes each
# harness for a bounded time. Exits 1 if any input crashes or breaks an
# invariant; the input is left in build-fuzz/artifacts/.
#
# usage: fuzz/run.sh [SECONDS]    seconds per harness (default 60, or
#                                 $TA_FUZZ_SECONDS); 0 replays only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-${TA_FUZZ_SECONDS:-60}}
dir=build-fuzz
corpus=${TA_CORPUS_DIR:-../shared/corpus}

CC=${CC_FUZZ:-clang} cmake -S . -B "$dir" -DTA_FUZZ=ON -DTA_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
cmake --build "$dir" -j"$(nproc)" --target fuzz_decode fuzz_pipeline >&2

# Seeds: the bundled captures, the malformed ones of the shared corpus, and
# past crashes. Large captures are left out: they slow every iteration.
seeds=$dir/seeds
rm -rf "$seeds"
mkdir -p "$seeds/pipeline" "$seeds/decode" "$dir/artifacts"
captures=()
for f in testdata/*.pcap testdata/*.pcapng testdata/*.gz testdata/*.zst \
         testdata/crash-* testdata/damaged-* \
         "$corpus"/tcpdump/malformed/* "$corpus"/tcpdump/tcp/*; do
  [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 65536 ] && captures+=("$f")
done
for f in "${captures[@]}"; do
  cp "$f" "$seeds/pipeline/$(basename "$f")-$(sha1sum <"$f" | cut -c1-8)"
done
python3 fuzz/mkseeds.py "$seeds/decode" "${captures[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
stats=$dir/fuzz-stats.txt
: >"$stats"
for h in pipeline decode; do
  bin=$dir/fuzz_$h
  echo "== fuzz_$h: replaying $(ls "$seeds/$h" | wc -l) seeds" >&2
  if ! "$bin" -runs=0 -timeout=20 "$seeds/$h"/* >"$dir/replay-$h.log" 2>&1; then
    echo "fuzz_$h: a seed or regression input fails:" >&2
    tail -40 "$dir/replay-$h.log" >&2
    status=1
    continue
  fi
  [ "$secs" -gt 0 ] || continue
  work=$dir/corpus-$h
  mkdir -p "$work"
  echo "== fuzz_$h: fuzzing for ${secs}s" >&2
  if ! "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$dir/artifacts/$h-" "$work" "$seeds/$h" \
       >"$dir/fuzz-$h.log" 2>&1; then
    echo "fuzz_$h: found a failing input:" >&2
    grep -v '^#\|Uses: ' "$dir/fuzz-$h.log" | tail -60 >&2
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz-$h.log")
  echo "fuzz_$h: ${runs:-?} executions in ${secs}s, corpus $(ls "$work" | wc -l) inputs" |
    tee -a "$stats" >&2
done
exit $status

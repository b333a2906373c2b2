#!/usr/bin/env bash
# tcpaudit - tests: set up, then build and run every test twice: a normal
# build and an ASan+UBSan build; then the fuzzers for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
status=0
for variant in "" --asan; do
  dir=$(scripts/build.sh $variant)
  echo "== tests in $dir"
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j2) || status=1
done
# libFuzzer harnesses (clang, build-fuzz/): the seeds and crash regressions
# replayed, then about a minute of fuzzing each ($TA_FUZZ_SECONDS, 0 to
# only replay).
echo "== fuzzers (fuzz/run.sh)"
fuzz/run.sh || status=1
exit $status

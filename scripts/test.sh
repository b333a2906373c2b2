#!/usr/bin/env bash
# tcpaudit - tests: set up, then build and run every test twice: a normal
# build and an ASan+UBSan build; then the fuzzers for a bounded time.
# Ends with one line counting every test run: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
status=0
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for variant in "" --asan; do
  dir=$(scripts/build.sh $variant)
  echo "== tests in $dir"
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j2) | tee "$log" || status=1
  # "100% tests passed, 0 tests failed out of 23"
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  bad=$(sed -n 's/.*passed, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
  if [ -z "$total" ]; then
    status=1
    failed=$((failed + 1))
  else
    passed=$((passed + total - bad))
    failed=$((failed + bad))
  fi
done
# libFuzzer harnesses (clang, build-fuzz/): the seeds and crash regressions
# replayed, then about a minute of fuzzing each ($TA_FUZZ_SECONDS, 0 to
# only replay).
echo "== fuzzers (fuzz/run.sh)"
if fuzz/run.sh; then
  passed=$((passed + 1))
else
  status=1
  failed=$((failed + 1))
fi
[ "$failed" -gt 0 ] && status=1
echo "tests: $passed passed, $failed failed"
exit $status

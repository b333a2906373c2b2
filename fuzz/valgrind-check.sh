#!/bin/sh
# tcpaudit - memcheck: runs the command under valgrind on a capture, once
# per report format, and fails on any memory error or leak. Exit 77 (the
# ctest skip code) when valgrind is not installed.
# usage: fuzz/valgrind-check.sh TCPAUDIT CAPTURE
set -eu
bin=$1
capture=$2
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed: skipped"; exit 77; }
formats=$("$bin" --help | sed -n 's/.*report format (\(.*\)).*/\1/p' | tr -d ',')
[ -n "$formats" ] || { echo "no formats in --help"; exit 1; }
status=0
for f in $formats; do
  if valgrind -q --error-exitcode=99 --leak-check=full \
       --show-leak-kinds=definite,indirect,possible \
       --errors-for-leak-kinds=definite,indirect,possible \
       "$bin" report --no-progress -f "$f" -o /dev/null "$capture"; then
    echo "memcheck -f $f: no errors, no leaks"
  else
    echo "memcheck -f $f: FAILED (exit $?)"
    status=1
  fi
done
exit $status

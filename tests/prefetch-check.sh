#!/bin/sh
# tcpaudit - tests: no prefetch of the library is optimized away.
# GCC takes a function that only reads and prefetches for a pure one and
# deletes a call to it whose result goes unused: that silently undid part
# of the host table's look-ahead (see lib/ta_prefetch.h). This compiles
# each library file that prefetches, at -O2 and -O3, with GCC's dumps of
# its dead-code passes, and fails when they deleted a statement naming a
# prefetch or any call made for nothing but its effect (a look-ahead step
# left with only prefetches would go that way, whatever its name).
# Usage: prefetch-check.sh CC SOURCE_DIR; exit 77 (skipped) when CC is not
# GCC, whose dumps these are.
cc=$1 src=$2
case $(echo | "$cc" -dM -E - 2>/dev/null) in
*__clang__*) ;;
*__GNUC__*) gcc=yes ;;
esac
[ "$gcc" = yes ] || { echo "prefetch-check: $cc is not GCC, skipped"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
bad=0 n=0
for f in $(grep -l -e prefetch "$src"/lib/*.c); do
  for o in -O2 -O3; do
    rm -f "$tmp"/*
    "$cc" $o -std=gnu11 -DNDEBUG -DTA_VERSION='"0"' -I"$src/lib" -c "$f" \
      -o "$tmp/x.o" -fdump-tree-dce-details -fdump-tree-cddce-details \
      -dumpdir "$tmp/" || { echo "prefetch-check: cannot compile $f"; exit 1; }
    ls "$tmp"/x.c.* >/dev/null 2>&1 ||
      { echo "prefetch-check: no dumps from $cc, skipped"; exit 77; }
    n=$((n + 1))
    if grep -h -e '^Deleting : .*prefetch' -e '^Deleting : [A-Za-z_0-9.]* (.*);$' \
         "$tmp"/x.c.* | sort -u | sed "s|^|$(basename "$f") $o: |" | grep .; then
      bad=$((bad + 1))
    fi
  done
done
echo "prefetch-check: $n compilations, $bad with deleted prefetches"
[ "$bad" = 0 ] && [ "$n" -gt 0 ]

#!/usr/bin/env bash
# tcpaudit - build: configures and builds with a CMake preset: build/ by
# default, build-asan/ with --asan (AddressSanitizer + UndefinedBehaviorSanitizer).
# Prints the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=default
dir=build
if [ "${1:-}" = "--asan" ]; then
  preset=asan
  dir=build-asan
fi
cmake --preset "$preset" >&2
cmake --build --preset "$preset" -j"$(nproc)" >&2
echo "$dir"

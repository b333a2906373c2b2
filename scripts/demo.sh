#!/usr/bin/env bash
# tcpaudit - demo: set up, build, and report on the bundled sample capture.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dir=$(scripts/build.sh)
exec "$dir/tcpaudit" report "$@" testdata/sample.pcap

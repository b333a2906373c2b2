#!/usr/bin/env bash
# tcpaudit - setup: installs the Debian packages the build and tests need,
# only those that are missing. Safe to run again.
set -euo pipefail

packages=(build-essential cmake pkg-config libpcap-dev libjansson-dev
          libcmocka-dev zlib1g-dev libzstd-dev python3 python3-jsonschema)
# libssl-dev: libcrypto's SHA-1 for Community ID; python3-yaml: the ECS
# field check reads ecs_flat.yml
packages+=(libssl-dev python3-yaml)
# chromium loads the HTML report in the browser test (large: set
# TA_SETUP_NO_BROWSER=1 to skip it; that test then skips itself)
[ "${TA_SETUP_NO_BROWSER:-}" ] || packages+=(chromium)
# valgrind: the memcheck test; clang and its libFuzzer runtime: fuzz/run.sh
packages+=(valgrind clang libclang-rt-14-dev)
[ "${TA_SETUP_EXTRA:-}" ] && read -r -a extra <<<"$TA_SETUP_EXTRA" && packages+=("${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Benchmark of the inbound connector: throughput against the limit Valkey
# sets for the same SET + XADD mix (measured in the same run), latency at
# 10k points/s, peak RSS with 100,000 points. Loopback only. See
# bench/inbound.py for what is measured and how.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
prog=bench/inbound.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
missing=()
for pkg in valkey-server valkey-tools; do installed "$pkg" || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then install_missing "${missing[@]}"; fi
cargo build --release --quiet
exec python3 bench/inbound.py "$@"

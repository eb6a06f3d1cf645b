#!/usr/bin/env bash
# Benchmark of the IEC 104 server role: a 100,000-point general
# interrogation to the project's own master engine against the bound the
# k window and the loopback round trip set (and against the raw link
# engine), and the latency from XADD to delivery at 1 and 5 masters at
# 10k updates/s. Loopback only. See examples/server_bench.rs for what is
# measured and how; options: bench/server.sh --help.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
prog=bench/server.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
missing=()
for pkg in valkey-server valkey-tools; do installed "$pkg" || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then install_missing "${missing[@]}"; fi
cargo build --release --quiet --bin alp-connex --example server_bench
exec target/release/examples/server_bench --bin target/release/alp-connex "$@"

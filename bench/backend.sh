#!/usr/bin/env bash
# Benchmark of the backend with authentication on: authenticated reads/s
# and latency (wrk), the same at a fixed 1,000 requests/s, the update
# stream's fan-out to 100 clients at 2,000 updates/s with the RSS, and
# the time from a PUT to a running connector applying it. Loopback only.
# See bench/backend.py for what is measured and how.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
prog=bench/backend.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
missing=()
for pkg in valkey-server valkey-tools postgresql wrk python3-venv; do
  installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then install_missing "${missing[@]}"; fi
venv="$repo/.build/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jwt, cryptography' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'PyJWT>=2.8,<3' 'cryptography>=42'
fi
cargo build --release --quiet
exec "$venv/bin/python" bench/backend.py "$@"

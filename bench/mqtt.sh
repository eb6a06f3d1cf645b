#!/usr/bin/env bash
# Benchmark of the MQTT connector: throughput against the lower of two
# limits measured in the same run (a bare subscriber through the same
# broker, Valkey's SET + XADD mix), a naive paho-mqtt + redis-py bridge for
# scale, latency at 5,000 messages/s, peak RSS with 100,000 points over
# 10,000 mappings, and the mapping engine's criterion bench. Loopback only.
# See bench/mqtt.py for what is measured and how.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
prog=bench/mqtt.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
missing=()
for pkg in valkey-server valkey-tools mosquitto mosquitto-clients python3-venv; do
  installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then install_missing "${missing[@]}"; fi
venv="$repo/.build/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import paho.mqtt, redis' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'paho-mqtt>=2,<3' 'redis>=5,<6'
fi
cargo build --release --quiet
exec python3 bench/mqtt.py --python "$venv/bin/python" "$@"

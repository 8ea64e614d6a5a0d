#!/usr/bin/env bash
# /metrics under load: runs scripts/bench-sip.sh at one rate (default 2000 calls/s for 20 s)
# and, from the 8th second, scrapes the switch's /metrics 40 times (5 per second, far more
# often than Prometheus' usual 15 s), printing scrape times and the switch's CPU per call,
# to compare with a bench-sip run without scrapes.
#   BIN=<release hotline-switch> scripts/bench-metrics.sh [rate] [seconds]
# Needs what bench-sip.sh needs, and curl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RATE=${1:-2000}
SECS=${2:-20}
OUT=$(mktemp -d /tmp/bench-metrics.XXXXXX)
trap 'kill "$B" 2>/dev/null || true; rm -rf "$OUT"' EXIT
before=$(ls -d /tmp/bench-sip.* 2>/dev/null || true)
KEEP=1 "$ROOT/scripts/bench-sip.sh" "$SECS" "$RATE" > "$OUT/bench.log" 2>&1 &
B=$!
D=""; HTTP=""
for _ in $(seq 1 120); do
  for d in $(ls -dt /tmp/bench-sip.* 2>/dev/null); do
    if ! grep -qx "$d" <<<"$before"; then D=$d; break; fi
  done
  [ -n "$D" ] && HTTP=$(grep -o 'http=[0-9.:]*' "$D/switch.out" 2>/dev/null | head -1 | cut -d= -f2 || true)
  [ -n "$HTTP" ] && break
  sleep 0.5
done
[ -n "$HTTP" ] || { echo "the switch did not start" >&2; exit 1; }
sleep 8
for _ in $(seq 1 40); do
  curl -s -o "$OUT/metrics.txt" -w '%{time_total}\n' --max-time 5 "http://$HTTP/metrics"
  sleep 0.2
done > "$OUT/times.txt"
wait "$B" || true
echo "body: $(wc -c < "$OUT/metrics.txt") bytes"
python3 - "$OUT/times.txt" <<'P'
import sys
t = sorted(float(x) for x in open(sys.argv[1]))
print(f"scrapes {len(t)}: median {t[len(t)//2]*1000:.2f} ms, p90 {t[int(len(t)*0.9)]*1000:.2f} ms, max {t[-1]*1000:.2f} ms")
P
grep -E "^(switch|kamailio) " "$OUT/bench.log"
rm -rf "$D"

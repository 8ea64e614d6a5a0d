#!/usr/bin/env bash
# IVR capacity benchmark: N concurrent callers in the shipped IVR (config/ivr/main.toml) of the
# real switch, with prompts playing, their RTP (PCMU, 50 packets/s) going through the in-band
# DTMF detector, and menu keys sent as RFC 4733 (1 = sales at 12.5 s, 2 = talk to sales at
# 15.5 s: they end up queued with music and announcements, no agent logged in). The load
# generator is sipp in its own process (one pcap playback per call). For each N it prints the
# switch's CPU (user+system of its process, over a window when all N callers are in the IVR),
# CPU per caller, sipp's CPU, and how many callers reached the sales queue (the digits were
# collected) according to the call records. Results: docs/performance/ivr.md.
#
# Usage: scripts/bench-ivr.sh [N ...]        default: 50 100 200 400
# Needs: sipp (Debian sip-tester), python3; builds the release binary.
set -euo pipefail

COUNTS=${*:-"50 100 200 400"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/bench-ivr.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ticks_of() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
RATE=50            # new calls per second while ramping up
HOLD_S=40          # each call lasts this long
WINDOW_S=10        # measured window, once every caller is in

echo "building hotline-switch (release)..." >&2
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p hotline-switch)
BIN=$TARGET/release/hotline-switch

python3 "$ROOT/scripts/ivr_caller_pcap.py" "$WORK/ivr_caller.pcap" $((HOLD_S + 5)) 12500:1 15500:2
sed "s/\[hold\]/$((HOLD_S * 1000))/" "$ROOT/tests/sipp/bench_ivr_caller.xml" > "$WORK/caller.xml"
ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null || true

printf "%6s %10s %14s %12s %10s %8s\n" callers "switch cpu" "per caller" "sipp cpu" "queued" "load"
for N in $COUNTS; do
  SW_PORT=$(free_port)
  HTTP_PORT=$(free_port)
  rm -rf "$WORK/db" && mkdir -p "$WORK/db"
  ln -sfn "$ROOT/config/ivr" "$WORK/ivr"
  ln -sfn "$ROOT/config/prompts" "$WORK/prompts"
  cp "$ROOT/config/demo.toml" "$WORK/demo.toml"
  cp "$ROOT/config/queues.toml" "$WORK/queues.toml"
  cat > "$WORK/switch.toml" <<EOT
[http]
listen = "127.0.0.1:$HTTP_PORT"
[database]
url = "sqlite://$WORK/db/bench.db"
[log]
level = "error"
[cti]
enabled = false
[sip]
listen = "127.0.0.1:$SW_PORT"
tcp = false
# every caller comes from sipp's one address
max_calls_per_source = 0
[media]
port_min = 30000
port_max = 60000
workers = 0
rtp_timeout_secs = 120
[routing]
queues_file = "queues.toml"
[[dialplan.routes]]
number = "+18005550100"
public = true
ivr = "main"
EOT
  "$BIN" --config "$WORK/switch.toml" > "$WORK/switch.out" 2> "$WORK/switch.err" &
  SW_PID=$!
  PIDS+=("$SW_PID")
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  (cd "$WORK" && exec timeout $((HOLD_S + 60)) sipp "127.0.0.1:$SW_PORT" -sf "$WORK/caller.xml" \
    -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp $((20000)) \
    -s +18005550100 -key caller +12125550100 \
    -r $RATE -l "$N" -m "$N" -nostdin -trace_err -error_file "$WORK/sipp.err" \
    > "$WORK/sipp.out" 2>&1) &
  SIPP_PID=$!
  PIDS+=("$SIPP_PID")
  # Wait for the ramp (N / RATE s) and for the last callers to be past the first prompt.
  sleep $(( N / RATE + 3 ))
  SIPP_REAL=$(pgrep -n -P "$SIPP_PID" sipp || echo "$SIPP_PID")
  s0=$(ticks_of "$SW_PID"); g0=$(ticks_of "$SIPP_REAL")
  sleep "$WINDOW_S"
  s1=$(ticks_of "$SW_PID"); g1=$(ticks_of "$SIPP_REAL")
  load=$(cut -d' ' -f1 /proc/loadavg)
  wait "$SIPP_PID" 2>/dev/null || true
  sleep 1
  queued=$(python3 -c "
import sqlite3
c = sqlite3.connect('$WORK/db/bench.db')
print(c.execute(\"SELECT COUNT(*) FROM calls WHERE queue_id = 'sales'\").fetchone()[0])")
  kill "$SW_PID" 2>/dev/null || true
  wait "$SW_PID" 2>/dev/null || true
  python3 - "$N" "$s0" "$s1" "$g0" "$g1" "$HZ" "$WINDOW_S" "$queued" "$load" <<'PY'
import sys
n, s0, s1, g0, g1, hz, w, queued, load = sys.argv[1:]
n, hz, w = int(n), int(hz), float(w)
sw = (int(s1) - int(s0)) / hz / w * 100
gen = (int(g1) - int(g0)) / hz / w * 100
print(f"{n:6d} {sw:9.1f}% {sw / n * 1000:10.1f} m% {gen:11.1f}% {queued:>6}/{n:<4d} {load:>6}")
PY
done
echo "per caller: thousandths of a percent of one core (m%); 1 core = 100 %." >&2

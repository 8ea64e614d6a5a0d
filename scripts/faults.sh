#!/usr/bin/env bash
# Fault run: PostgreSQL stopped for OUTAGE_S seconds in the middle of traffic, then started
# again. Calls must go on while it is away, and once it is back every call must have its
# record, with an end, and every wrap-up its outcome (nothing lost).
#
# Never touches the machine's shared PostgreSQL: the script creates a private cluster
# (initdb + pg_ctl from /usr/lib/postgresql/*/bin, as the `postgres` user when run as root) in a
# temp folder on a free port, and stops and starts that one.
#
# Traffic: `hotline-switch demo --calls-per-minute 0` on that database (demo data seeded into
# it; simulated agents on CTI wrap every call up with a disposition, their phones answer with
# RTP) and sipp callers with RTP walking the IVR (1, 2) into the sales queue
# (tests/sipp/bench_ivr_caller.xml, scripts/ivr_caller_pcap.py).
#
# Usage: scripts/faults.sh     (env: DURATION_S=120 RATE_PER_10S=10 HOLD_S=30 OUTAGE_AT_S=40
#                               OUTAGE_S=30 AGENTS=4 KEEP=1 to keep the temp dir)
# Needs: PostgreSQL server binaries, sipp, python3; builds the release binary.
# Results: docs/robustness.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION_S=${DURATION_S:-120}
RATE_PER_10S=${RATE_PER_10S:-10}
HOLD_S=${HOLD_S:-30}
OUTAGE_AT_S=${OUTAGE_AT_S:-40}
OUTAGE_S=${OUTAGE_S:-30}
AGENTS=${AGENTS:-4}
WORK=$(mktemp -d /tmp/faults.XXXXXX)
PIDS=()
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "SKIPPED: no /usr/lib/postgresql/*/bin/initdb (install the PostgreSQL server)" >&2
  exit 0
fi
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); chown postgres "$WORK"; fi
pg() { "${AS[@]}" "$PG_BIN/$1" "${@:2}"; }
PGDATA="$WORK/pgdata"
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg pg_ctl -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" >&2; }

echo "building hotline-switch (release)..." >&2
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p hotline-switch)
BIN=$TARGET/release/hotline-switch

PG_PORT=$(free_port)
pg initdb -D "$PGDATA" -A trust -U postgres -E UTF8 --no-sync >/dev/null
pg_start() {
  pg pg_ctl -D "$PGDATA" -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $WORK" \
    -l "$WORK/pg.log" -w -t 30 start >/dev/null
}
pg_start
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
psql_q() { psql -X -A -t -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "$1"; }

python3 "$ROOT/scripts/ivr_caller_pcap.py" "$WORK/ivr_caller.pcap" $((HOLD_S + 5)) 12500:1 15500:2
sed "s/\[hold\]/$((HOLD_S * 1000))/" "$ROOT/tests/sipp/bench_ivr_caller.xml" > "$WORK/caller.xml"
SW_PORT=$(free_port)
HTTP_PORT=$(free_port)
ln -sfn "$ROOT/config/ivr" "$WORK/ivr"
ln -sfn "$ROOT/config/prompts" "$WORK/prompts"
cp "$ROOT/config/demo.toml" "$WORK/demo.toml"
cp "$ROOT/config/queues.toml" "$WORK/queues.toml"
cat > "$WORK/switch.toml" <<EOT
[node]
name = "faults-1"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[database]
url = "$PG_URL"
[log]
level = "info"
format = "json"
[sip]
listen = "127.0.0.1:$SW_PORT"
tcp = false
# Every sipp caller calls from 127.0.0.1: no per-source call cap.
max_calls_per_source = 0
[media]
port_min = 30000
port_max = 39999
workers = 0
[routing]
queues_file = "queues.toml"
[[dialplan.routes]]
number = "+18005550100"
public = true
ivr = "main"
[[extensions]]
number = "1001"
password = "alice-phone"
[[extensions]]
number = "1002"
password = "bob-phone"
[[extensions]]
number = "1003"
password = "carol-phone"
[[extensions]]
number = "1004"
password = "dave-phone"
[[extensions]]
number = "1005"
password = "erin-phone"
EOT

T0=$(date +%s)
"$BIN" --config "$WORK/switch.toml" demo --calls-per-minute 0 --agents "$AGENTS" \
  > "$WORK/switch.out" 2> "$WORK/switch.err" &
SW_PID=$!
PIDS+=("$SW_PID")
for _ in $(seq 1 300); do
  grep -q "simulated agents" "$WORK/switch.out" 2>/dev/null && break
  sleep 0.1
done
sleep 3
TOTAL=$(( DURATION_S * RATE_PER_10S / 10 ))
T0=$(date +%s)
stamp "traffic: $TOTAL calls, $RATE_PER_10S per 10 s, ${HOLD_S} s each; PostgreSQL (private, port $PG_PORT) stops at ${OUTAGE_AT_S}s for ${OUTAGE_S}s"
(cd "$WORK" && exec timeout $((DURATION_S + HOLD_S + 120)) sipp "127.0.0.1:$SW_PORT" -sf "$WORK/caller.xml" \
  -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp 20000 \
  -s +18005550100 -key caller +12125550100 \
  -r "$RATE_PER_10S" -rp 10000 -m "$TOTAL" -l "$TOTAL" \
  -nostdin -trace_err -error_file "$WORK/sipp.err" \
  -trace_stat -stf "$WORK/sipp_stat.csv" -fd 5 \
  > "$WORK/sipp.out" 2>&1) &
SIPP_PID=$!
PIDS+=("$SIPP_PID")

sleep "$OUTAGE_AT_S"
before=$(psql_q "SELECT COUNT(*) FROM calls")
pg pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
stamp "PostgreSQL stopped ($before call records so far)"
sleep "$OUTAGE_S"
health=$(curl -s "http://127.0.0.1:$HTTP_PORT/health" || true)
stamp "health while away: $health"
pg_start
stamp "PostgreSQL started again"
wait "$SIPP_PID" 2>/dev/null || SIPP_RC=$?
stamp "callers done (sipp exit ${SIPP_RC:-0})"
# Agents wrap up 3-8 s after a call; the writer's back-off is at most 5 s.
sleep 20

created=$(awk -F';' 'NR==1 {for (i=1;i<=NF;i++) h[$i]=i} END {print $h["TotalCallCreated"]}' "$WORK/sipp_stat.csv")
ok=$(awk -F';' 'NR==1 {for (i=1;i<=NF;i++) h[$i]=i} END {print $h["SuccessfulCall(C)"]}' "$WORK/sipp_stat.csv")
failed=$(awk -F';' 'NR==1 {for (i=1;i<=NF;i++) h[$i]=i} END {print $h["FailedCall(C)"]}' "$WORK/sipp_stat.csv")
records=$(psql_q "SELECT COUNT(*) FROM calls")
open=$(psql_q "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL")
answered=$(psql_q "SELECT COUNT(*) FROM calls WHERE answered_at IS NOT NULL")
outcomes=$(psql_q "SELECT COUNT(*) FROM outcomes")
# Wrap-ups the simulated agents sent, from the demo's own summary line.
wrapped=$(grep -o 'wrapped [0-9]*\|wrap-ups [0-9]*\|[0-9]* wrapped' "$WORK/switch.out" | tail -n 1 | grep -o '[0-9]*' || echo "?")
refused=$(grep -c 'wrap-up refused' "$WORK/switch.err" || true)
retries=$(grep -c 'call record write failed; retrying' "$WORK/switch.err" || true)
recovered=$(grep -c 'call-record writes recovered' "$WORK/switch.err" || true)
dropped=$(grep -c 'call-record queue full' "$WORK/switch.err" || true)
{
  echo "sipp: $created calls created, $ok successful, $failed failed"
  echo "call records: $records (of $created calls), without an end: $open, answered by an agent: $answered"
  echo "outcomes: $outcomes; wrap-ups sent by the simulated agents: $wrapped; wrap-ups refused: $refused"
  echo "writer: $retries retry lines, $recovered recovery lines, $dropped queue-full lines"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$WORK/summary.txt"
tail -n 3 "$WORK/switch.out" >&2
kill -TERM "$SW_PID" 2>/dev/null || true
wait "$SW_PID" 2>/dev/null || true

#!/usr/bin/env bash
# Signalling benchmark: the highest call rate with zero failed calls, sipp UAC -> hotline-switch
# (B2BUA, direct media, call records written) -> sipp UAS, and the same sipp pair through
# Kamailio (stateful relay, tm, record-route, 4 workers), in the same run. Prints a table and the
# ratio switch/Kamailio. Results are written up in docs/performance/switch-sip.md.
#
# Usage: scripts/bench-sip.sh [step_seconds] [rates...]   (env BIN=<path> to use a given binary)
#   default: 4 s per step, rates 500 1000 1500 2000 2500 3000 3500 4000 4500 5000
# Needs: sipp (Debian sip-tester), kamailio, a release build (built here).
# Every sipp run is wrapped in `timeout`; children are killed on exit.
set -euo pipefail

STEP=${1:-4}
shift || true
RATES=${*:-"500 1000 1500 2000 2500 3000 3500 4000 4500 5000"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SCEN=$ROOT/tests/sipp
WORK=$(mktemp -d /tmp/bench-sip.XXXXXX)
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

# CPU seconds (user+system) a process has used so far.
cpu_of() {
  local ticks
  ticks=$(awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0)
  python3 -c "import os; print($ticks/os.sysconf('SC_CLK_TCK'))"
}

if [ -n "${BIN:-}" ]; then
  # A binary built elsewhere (e.g. an earlier commit, for a before/after comparison).
  echo "using $BIN" >&2
else
  echo "building hotline-switch (release)..." >&2
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p hotline-switch)
  BIN=$TARGET/release/hotline-switch
fi

SW_PORT=$(free_port)
K_PORT=$(free_port)
UAS_SW_PORT=$(free_port)
UAS_K_PORT=$(free_port)

# --- the switch: direct media, a public number routed to extension 1001 ---
cat > "$WORK/switch.toml" <<EOF
[http]
listen = "127.0.0.1:0"
[database]
url = "sqlite://$WORK/bench.db"
[log]
level = "warn"
[demo]
seed = false
[cti]
enabled = false
[sip]
listen = "127.0.0.1:$SW_PORT"
tcp = false
auth_algorithms = ["MD5"]
auth_uri_check = "host"
keepalive_secs = 0
max_expires_secs = 3600
# every caller comes from sipp's one address
max_calls_per_source = 0
[media]
anchor = false
[[dialplan.routes]]
number = "5000"
public = true
extension = "1001"
[[extensions]]
number = "1001"
password = "bench-1001"
EOF
"$BIN" --config "$WORK/switch.toml" > "$WORK/switch.out" 2> "$WORK/switch.err" &
SW_PID=$!
PIDS+=("$SW_PID")

# --- Kamailio: stateful relay to the UAS, record-routed, 4 workers ---
MPATH=/usr/lib/x86_64-linux-gnu/kamailio/modules
cat > "$WORK/kamailio.cfg" <<EOF
#!KAMAILIO
debug=0
log_stderror=yes
children=4
listen=udp:127.0.0.1:$K_PORT
disable_tcp=yes
# The receive buffer the switch asks for (8 MB, capped by the kernel).
maxbuffer=8388608
mpath="$MPATH"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    sl_send_reply("404", "Not here"); exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  t_check_trans();
  record_route();
  \$du = "sip:127.0.0.1:$UAS_K_PORT";
  t_relay();
}
EOF
kamailio -f "$WORK/kamailio.cfg" -DD -E -m 1024 -M 32 -P "$WORK/kamailio.pid" > "$WORK/kamailio.out" 2>&1 &
K_PID=$!
PIDS+=("$K_PID")

for _ in $(seq 1 100); do
  grep -q "sip=" "$WORK/switch.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "sip=" "$WORK/switch.out" || { echo "switch did not start:"; cat "$WORK/switch.err"; exit 1; }
kill -0 "$K_PID" 2>/dev/null || { echo "kamailio did not start:"; cat "$WORK/kamailio.out"; exit 1; }

# The two callee UASes run for the whole benchmark.
timeout 3600 sipp 127.0.0.1:$SW_PORT -sf "$SCEN/bench_uas.xml" -i 127.0.0.1 -p "$UAS_SW_PORT" \
  -mp "$(free_port)" -nostdin -bg -max_socket 4096 -buff_size 4194304 > /dev/null 2>&1 || true
timeout 3600 sipp 127.0.0.1:$K_PORT -sf "$SCEN/bench_uas.xml" -i 127.0.0.1 -p "$UAS_K_PORT" \
  -mp "$(free_port)" -nostdin -bg -max_socket 4096 -buff_size 4194304 > /dev/null 2>&1 || true
sleep 0.5
PIDS+=($(pgrep -f "sipp 127.0.0.1:$SW_PORT -sf $SCEN/bench_uas.xml" || true))
PIDS+=($(pgrep -f "sipp 127.0.0.1:$K_PORT -sf $SCEN/bench_uas.xml" || true))

register() {
  timeout 20 sipp 127.0.0.1:$SW_PORT -sf "$SCEN/register.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 \
    -key ext 1001 -au 1001 -ap bench-1001 -key contact_port "$UAS_SW_PORT" -nostdin > /dev/null 2>&1
}
register || { echo "registration with the switch failed"; cat "$WORK/switch.err"; exit 1; }

# One step: rate R for STEP seconds against port P; prints "ok|fail completed failed".
step() {
  local port=$1 rate=$2
  local n=$((rate * STEP))
  local stats="$WORK/stat_${port}_${rate}.csv"
  if timeout $((STEP + 40)) sipp 127.0.0.1:$port -sf "$SCEN/bench_uac.xml" -i 127.0.0.1 \
      -p "$(free_port)" -mp "$(free_port)" -key dial 5000 -r "$rate" -m "$n" -l $((rate * 4)) \
      -nostdin -max_socket 4096 -buff_size 4194304 -recv_timeout 10000 -trace_stat -stf "$stats" -fd 60 \
      -trace_err -error_file "$WORK/err_${port}_${rate}.log" > "$WORK/out_${port}_${rate}.log" 2>&1; then
    echo ok
  else
    echo fail
  fi
}

DONE=0
declare -A CLEAN=( [switch]=0 [kamailio]=0 )
declare -A CPU=( [switch]="" [kamailio]="" )
printf "%-9s %6s %6s %14s\n" target rate result "cpu ms/call"
for target in switch kamailio; do
  port=$SW_PORT; pid=$SW_PID
  if [ "$target" = kamailio ]; then port=$K_PORT; pid=$K_PID; fi
  for rate in $RATES; do
    [ "$target" = switch ] && register
    if [ "$target" = kamailio ]; then
      c0=0; for p in $(pgrep -f "kamailio -f $WORK/kamailio.cfg"); do c0=$(python3 -c "print($c0+$(cpu_of "$p"))"); done
    else
      c0=$(cpu_of "$pid")
    fi
    r=$(step "$port" "$rate")
    if [ "$target" = switch ]; then
      # Every call writes its record; wait until the writer has caught up so that the CPU
      # measured includes the database work of this step's calls.
      DONE=$((DONE + rate * STEP))
      for _ in $(seq 1 600); do
        n=$(python3 -c "import sqlite3; print(sqlite3.connect('$WORK/bench.db').execute('select count(*) from calls where ended_at is not null').fetchone()[0])" 2>/dev/null || echo 0)
        [ "$n" -ge "$DONE" ] && break
        sleep 0.1
      done
    fi
    if [ "$target" = kamailio ]; then
      c1=0; for p in $(pgrep -f "kamailio -f $WORK/kamailio.cfg"); do c1=$(python3 -c "print($c1+$(cpu_of "$p"))"); done
    else
      c1=$(cpu_of "$pid")
    fi
    per=$(python3 -c "print(round(($c1-$c0)*1000/($rate*$STEP), 3))")
    printf "%-9s %6s %6s %14s\n" "$target" "$rate" "$r" "$per"
    if [ "$r" = ok ]; then CLEAN[$target]=$rate; CPU[$target]=$per; else break; fi
    sleep 2
  done
done

echo
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  machine: $(nproc) cores  sipp: $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1)  kamailio: $(kamailio -v | head -1 | awk '{print $3}')"
echo "max clean calls/s: switch ${CLEAN[switch]} (cpu ${CPU[switch]} ms/call), kamailio ${CLEAN[kamailio]} (cpu ${CPU[kamailio]} ms/call, 4 workers)"
if [ "${CLEAN[kamailio]}" -gt 0 ]; then
  echo "ratio switch/kamailio: $(python3 -c "print(round(${CLEAN[switch]}/${CLEAN[kamailio]}, 2))")"
fi

#!/usr/bin/env bash
# Soak: sipp callers with RTP through the IVR into the sales queue for DURATION_S seconds, with
# the demo's simulated agents (CTI desktops that go ready, take screen pops and wrap up with a
# disposition) and their SIP phones (registered, answering with RTP) taking the calls.
#
# The switch runs as `hotline-switch demo --calls-per-minute 0` (its own callers off), so the
# process measured is the switch plus the demo's agents and phones. Every SAMPLE_S seconds the
# script samples that process's resident memory (VmRSS), its open file descriptors and its
# threads, and sipp's calls in progress; afterwards it checks sipp's failed calls, that every
# call record has an end, and plots RSS and fds (gnuplot) to a PNG.
#
# Callers: scripts/ivr_caller_pcap.py writes one RTP stream (PCMU for the whole call and the
# RFC 4733 menu keys 1 then 2 = "talk to sales"); tests/sipp/bench_ivr_caller.xml plays it and
# hangs up after HOLD_S seconds. Default rate: 7.5 calls/s with 40 s calls = 300 callers at
# once, half the 600 concurrent IVR callers that ran clean in scripts/bench-ivr.sh
# (docs/performance/ivr.md, docs/PERFORMANCE.md).
#
# Usage: scripts/soak.sh            (env: DURATION_S=600 RATE_PER_10S=75 HOLD_S=40 AGENTS=4
#                                    SAMPLE_S=5 OUT=docs/performance KEEP=1 to keep the temp dir)
# Needs: sipp (Debian sip-tester), python3, gnuplot (for the PNG); builds the release binary.
# Results: docs/robustness.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION_S=${DURATION_S:-600}
RATE_PER_10S=${RATE_PER_10S:-75}   # sipp -r per -rp 10000 (75 = 7.5 calls/s)
HOLD_S=${HOLD_S:-40}
AGENTS=${AGENTS:-4}
SAMPLE_S=${SAMPLE_S:-5}
OUT=${OUT:-$ROOT/docs/performance}
PNG=${PNG:-$ROOT/docs/images/soak.png}
WORK=$(mktemp -d /tmp/soak.XXXXXX)
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

echo "building hotline-switch (release)..." >&2
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p hotline-switch)
BIN=$TARGET/release/hotline-switch

python3 "$ROOT/scripts/ivr_caller_pcap.py" "$WORK/ivr_caller.pcap" $((HOLD_S + 5)) 12500:1 15500:2
sed "s/\[hold\]/$((HOLD_S * 1000))/" "$ROOT/tests/sipp/bench_ivr_caller.xml" > "$WORK/caller.xml"
ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null || true

SW_PORT=$(free_port)
HTTP_PORT=$(free_port)
mkdir -p "$WORK/db"
ln -sfn "$ROOT/config/ivr" "$WORK/ivr"
ln -sfn "$ROOT/config/prompts" "$WORK/prompts"
cp "$ROOT/config/demo.toml" "$WORK/demo.toml"
cp "$ROOT/config/queues.toml" "$WORK/queues.toml"
cat > "$WORK/switch.toml" <<EOT
[node]
name = "soak-1"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[database]
url = "sqlite://$WORK/db/soak.db"
[log]
level = "warn"
[sip]
listen = "127.0.0.1:$SW_PORT"
tcp = false
# Every sipp caller calls from 127.0.0.1: no per-source call cap.
max_calls_per_source = 0
[media]
port_min = 30000
port_max = 39999
workers = 0
rtp_timeout_secs = 120
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

"$BIN" --config "$WORK/switch.toml" demo --calls-per-minute 0 --agents "$AGENTS" \
  > "$WORK/switch.out" 2> "$WORK/switch.err" &
SW_PID=$!
PIDS+=("$SW_PID")
for _ in $(seq 1 200); do
  grep -q "simulated agents" "$WORK/switch.out" 2>/dev/null && break
  sleep 0.1
done
sleep 3   # agents log in and go ready
grep "demo:" "$WORK/switch.out" >&2 || true

TOTAL=$(( DURATION_S * RATE_PER_10S / 10 ))
echo "soak: $TOTAL calls at $RATE_PER_10S per 10 s for ${DURATION_S} s, ${HOLD_S} s each, $AGENTS agents; switch pid $SW_PID" >&2
(cd "$WORK" && exec timeout $((DURATION_S + HOLD_S + 120)) sipp "127.0.0.1:$SW_PORT" -sf "$WORK/caller.xml" \
  -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp 20000 \
  -s +18005550100 -key caller +12125550100 \
  -r "$RATE_PER_10S" -rp 10000 -m "$TOTAL" -l $(( TOTAL )) \
  -nostdin -trace_err -error_file "$WORK/sipp.err" \
  -trace_stat -stf "$WORK/sipp_stat.csv" -fd "$SAMPLE_S" \
  > "$WORK/sipp.out" 2>&1) &
SIPP_PID=$!
PIDS+=("$SIPP_PID")

SAMPLES="$OUT/soak-samples.csv"
mkdir -p "$OUT" "$(dirname "$PNG")"
echo "t_s,rss_kb,fds,threads,sipp_calls" > "$SAMPLES"
T0=$(date +%s)
sample() {
  local now rss fds thr calls
  now=$(( $(date +%s) - T0 ))
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SW_PID/status" 2>/dev/null || echo 0)
  thr=$(awk '/^Threads:/ {print $2}' "/proc/$SW_PID/status" 2>/dev/null || echo 0)
  fds=$(ls "/proc/$SW_PID/fd" 2>/dev/null | wc -l || true)
  calls=$(tail -n 1 "$WORK/sipp_stat.csv" 2>/dev/null | awk -F';' -v col="$CUR_COL" 'col > 0 {print $col}' || true)
  echo "$now,$rss,$fds,$thr,${calls:-0}" >> "$SAMPLES"
}
CUR_COL=0
while kill -0 "$SIPP_PID" 2>/dev/null; do
  if [ "$CUR_COL" = 0 ] && [ -s "$WORK/sipp_stat.csv" ]; then
    CUR_COL=$(head -n 1 "$WORK/sipp_stat.csv" | tr ';' '\n' | grep -n '^CurrentCall$' | cut -d: -f1 || true)
    CUR_COL=${CUR_COL:-0}
  fi
  sample
  sleep "$SAMPLE_S"
done
wait "$SIPP_PID" 2>/dev/null || SIPP_RC=$?
# A minute after the last call: memory and descriptors once the calls are gone.
for _ in $(seq 1 $(( 60 / SAMPLE_S ))); do sample; sleep "$SAMPLE_S"; done

python3 - "$WORK/sipp_stat.csv" "$WORK/db/soak.db" "$SAMPLES" "${SIPP_RC:-0}" <<'PY' | tee "$WORK/summary.txt"
import csv, sqlite3, sys
stat, db, samples, rc = sys.argv[1:]
rows = list(csv.reader(open(stat), delimiter=';'))
head, last = rows[0], rows[-1]
col = lambda name: last[head.index(name)]
print(f"sipp: {col('TotalCallCreated')} calls created, {col('SuccessfulCall(C)')} successful, "
      f"{col('FailedCall(C)')} failed (exit code {rc})")
c = sqlite3.connect(db)
q = lambda sql: c.execute(sql).fetchone()[0]
total = q("SELECT COUNT(*) FROM calls")
open_ = q("SELECT COUNT(*) FROM calls WHERE ended_at IS NULL")
queued = q("SELECT COUNT(*) FROM calls WHERE queue_id = 'sales'")
answered = q("SELECT COUNT(*) FROM calls WHERE answered_at IS NOT NULL")
outcomes = q("SELECT COUNT(*) FROM outcomes")
print(f"call records: {total}, without an end: {open_}, reached the sales queue: {queued}, "
      f"answered by an agent: {answered}, outcomes: {outcomes}")
s = list(csv.DictReader(open(samples)))
load = [r for r in s if int(r['sipp_calls'] or 0) > 0]
def span(rs, k):
    v = [int(r[k]) for r in rs]
    return f"{min(v)}..{max(v)}" if v else "-"
print(f"under load ({len(load)} samples): RSS {span(load, 'rss_kb')} kB, fds {span(load, 'fds')}, "
      f"threads {span(load, 'threads')}, sipp calls in progress {span(load, 'sipp_calls')}")
if load:
    n = max(1, len(load) // 5)
    first, lastq = load[:n], load[-n:]
    avg = lambda rs, k: sum(int(r[k]) for r in rs) / len(rs)
    print(f"first vs last fifth under load: RSS {avg(first, 'rss_kb'):.0f} -> {avg(lastq, 'rss_kb'):.0f} kB, "
          f"fds {avg(first, 'fds'):.0f} -> {avg(lastq, 'fds'):.0f}")
print(f"after the calls: RSS {s[-1]['rss_kb']} kB, fds {s[-1]['fds']}, threads {s[-1]['threads']}")
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/summary.txt"

if command -v gnuplot >/dev/null; then
  gnuplot <<EOG
set terminal pngcairo size 1000,560 font "sans,10"
set output "$PNG"
set datafile separator ","
set title "Soak: IVR + queue + agents, ${RATE_PER_10S} calls per 10 s for ${DURATION_S} s (release, shared 2-core VM)"
set xlabel "seconds since the first call"
set ylabel "RSS (MB)"
set y2label "open fds / calls in progress"
set ytics nomirror
set y2tics
set key top left
set grid
plot "$SAMPLES" using 1:(\$2/1024) skip 1 with lines lw 2 title "RSS (MB)", \
     "" using 1:3 skip 1 axes x1y2 with lines lw 2 title "open fds", \
     "" using 1:5 skip 1 axes x1y2 with lines dt 2 title "sipp calls in progress"
EOG
  echo "plot: $PNG" >&2
fi
cp "$WORK/summary.txt" "$OUT/soak-summary.txt"
kill -TERM "$SW_PID" 2>/dev/null || true
wait "$SW_PID" 2>/dev/null || true
grep -c '"level":"ERROR"\| ERROR ' "$WORK/switch.err" | sed 's/^/switch error lines: /' >&2 || true

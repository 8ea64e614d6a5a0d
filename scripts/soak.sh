#!/usr/bin/env bash
# Soak: sipp callers with RTP through the IVR into the sales queue for DURATION_S seconds, with
# simulated agents (CTI desktops that go ready, take screen pops and wrap up with a
# disposition) and their SIP phones (registered, answering with RTP) taking the calls.
#
# The switch runs as `hotline-switch demo --calls-per-minute 0` (its own callers off), so the
# process measured is the switch plus the demo's agents and phones. Every SAMPLE_S seconds the
# script samples that process's resident memory (VmRSS), its open file descriptors and its
# threads, and sipp's calls in progress; afterwards it checks sipp's failed calls, that every
# call record has an end, how many queued calls agents answered, and plots RSS and fds
# (gnuplot) to a PNG.
#
# Callers: scripts/ivr_caller_pcap.py writes one RTP stream (PCMU for the whole call and the
# RFC 4733 menu keys 1 then 2 = "talk to sales"); tests/sipp/bench_ivr_caller.xml plays it and
# hangs up HOLD_S seconds after the switch answers (the IVR). Default rate: 7.5 calls/s with
# 40 s calls = 300 callers at once, half the 600 concurrent IVR callers that ran clean in
# scripts/bench-ivr.sh (docs/performance/ivr.md, docs/PERFORMANCE.md).
#
# Agents: the shipped demo data (config/demo.toml) has four simulated agents, far too few for
# this rate. The script writes its own demo data file in the temp folder: config/demo.toml
# plus AGENTS generated agents (`soak001`..., role agent, CTI password `soak001-demo`, skills
# english 4 and booking 3, so the sales queue's `booking >= 2` matches) with extensions
# 2001... and their `[[extensions]]` (password `soak001-phone`) in the generated switch.toml,
# and runs the demo with `--agents AGENTS+4` (the demo's bob, carol, dave and erin play too;
# bob and dave lack booking and take no sales calls). The demo's agent phones answer 2 s
# after the ring and hang up after 20-60 s (the caller hangs up first at HOLD_S=40); the
# simulated agents send the disposition 3-8 s into wrap-up and go ready again. An agent is so
# busy for about (HOLD_S - 16) + 5.5 s per call (16 s: the IVR before the queue), and the
# default AGENTS is that load in Erlangs plus twice its square root (square-root staffing:
# few callers wait).
#
# Memory: the switch runs with glibc's malloc limited to 2 arenas (MALLOC_ARENA_MAX=2), as
# the binary sets itself (docs/configuration.md): with glibc's default (up to 8 arenas per
# core) the resident memory grew by about 3.5 MiB a minute under this load and was never
# handed back, while the live heap stayed nearly flat (docs/robustness.md). MALLOC_ARENA_MAX=
# (empty) runs glibc's default number (8 per core).
#
# Usage: scripts/soak.sh   (env: DURATION_S=600 RATE_PER_10S=75 HOLD_S=40 AGENTS=<from the
#                           load> SAMPLE_S=5 NAME=soak OUT=docs/performance
#                           PNG=docs/images/$NAME.png MALLOC_ARENA_MAX=2 KEEP=1 to keep the
#                           temp dir)
# Writes $OUT/$NAME-samples.csv, $OUT/$NAME-summary.txt and the PNG.
# Needs: sipp (Debian sip-tester), python3, gnuplot (for the PNG); builds the release binary.
# Results: docs/robustness.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION_S=${DURATION_S:-600}
RATE_PER_10S=${RATE_PER_10S:-75}   # sipp -r per -rp 10000 (75 = 7.5 calls/s)
HOLD_S=${HOLD_S:-40}
# Agent busy time per call (ring and talk, from the queue to the caller's hang-up, + 5.5 s
# mean wrap-up), in tenths of a second, and the load it makes in Erlangs.
BUSY_DS=$(( (HOLD_S - 16) * 10 + 55 ))
ERLANGS=$(( (RATE_PER_10S * BUSY_DS + 99) / 100 ))
DEFAULT_AGENTS=$(python3 -c "import math; print(math.ceil($ERLANGS + 2 * math.sqrt($ERLANGS)))")
AGENTS=${AGENTS:-$DEFAULT_AGENTS}
SAMPLE_S=${SAMPLE_S:-5}
ARENAS=${MALLOC_ARENA_MAX-2}
NAME=${NAME:-soak}
OUT=${OUT:-$ROOT/docs/performance}
PNG=${PNG:-$ROOT/docs/images/$NAME.png}
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
cp "$ROOT/config/queues.toml" "$WORK/queues.toml"
# The demo data: the shipped file plus the generated agents (TOML appends the [[agents]]
# tables to the shipped ones); their phones' [[extensions]] go into switch.toml below.
python3 - "$ROOT/config/demo.toml" "$WORK/demo.toml" "$WORK/extensions.toml" "$AGENTS" <<'PY'
import sys
src, demo, exts, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if n > 998:
    sys.exit("AGENTS: at most 998 (extensions 2001..2998)")
agents, extensions = [], []
for i in range(1, n + 1):
    aid, ext = f"soak{i:03}", str(2000 + i)
    agents.append(f"""
[[agents]]
id = "{aid}"
name = "Soak Agent {i}"
extension = "{ext}"
role = "agent"
password = "{aid}-demo"
skills = [{{ skill = "english", proficiency = 4 }}, {{ skill = "booking", proficiency = 3 }}]
""")
    extensions.append(f'[[extensions]]\nnumber = "{ext}"\npassword = "{aid}-phone"\n')
with open(demo, "w") as f:
    f.write(open(src).read())
    f.write("\n# Generated by scripts/soak.sh: the soak's simulated agents (sales: booking skill).\n")
    f.writelines(agents)
with open(exts, "w") as f:
    f.write("\n".join(extensions))
PY
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
[cti]
# Every simulated agent logs in at start-up at once, from 127.0.0.1 like a whole site behind
# one NAT address at the start of a shift, and none has logged in from there before: each
# check in flight counts against the address (default 20 at once; the demo's agents do not
# retry a refused login), and the checks queue on the argon2 threads (default time-out 10 s).
lockout_failures_per_address = $(( AGENTS + 100 ))
login_timeout_ms = 120000
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
cat "$WORK/extensions.toml" >> "$WORK/switch.toml"

# The demo's own bob, carol, dave and erin come first in the data, then the generated agents.
SIMULATED=$(( AGENTS + 4 ))
if [ -n "$ARENAS" ]; then export MALLOC_ARENA_MAX=$ARENAS; else export MALLOC_ARENA_MAX=$(( 8 * $(nproc) )); fi  # empty: glibc's default count (the switch would set 2 itself)
"$BIN" --config "$WORK/switch.toml" demo --calls-per-minute 0 --agents "$SIMULATED" \
  > "$WORK/switch.out" 2> "$WORK/switch.err" &
unset MALLOC_ARENA_MAX
SW_PID=$!
PIDS+=("$SW_PID")
for _ in $(seq 1 200); do
  grep -q "simulated agents" "$WORK/switch.out" 2>/dev/null && break
  sleep 0.1
done
# Agents log in (an argon2 check each) and go ready: wait until the demo's five-second summary
# shows them all ready (at most 5 minutes).
READY=0
for _ in $(seq 1 300); do
  READY=$(grep -o 'agents [0-9]* ready' "$WORK/switch.out" 2>/dev/null | tail -n 1 | awk '{print $2}' || true)
  READY=${READY:-0}
  [ "$READY" -ge "$SIMULATED" ] && break
  kill -0 "$SW_PID" 2>/dev/null || { echo "the switch exited:" >&2; tail -n 20 "$WORK/switch.err" >&2; exit 1; }
  sleep 1
done
grep "demo:" "$WORK/switch.out" | cut -c1-200 >&2 || true
echo "agents ready before the first call: $READY of $SIMULATED" | tee "$WORK/ready.txt" >&2

TOTAL=$(( DURATION_S * RATE_PER_10S / 10 ))
echo "soak: $TOTAL calls at $RATE_PER_10S per 10 s for ${DURATION_S} s, ${HOLD_S} s each;" \
  "$AGENTS generated + 4 demo agents (load about $ERLANGS Erlangs at $((BUSY_DS / 10)).$((BUSY_DS % 10)) s per call);" \
  "MALLOC_ARENA_MAX=${ARENAS:-<glibc default>}; switch pid $SW_PID" | tee "$WORK/plan.txt" >&2
(cd "$WORK" && exec timeout $((DURATION_S + HOLD_S + 120)) sipp "127.0.0.1:$SW_PORT" -sf "$WORK/caller.xml" \
  -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp 20000 \
  -s +18005550100 -key caller +12125550100 \
  -r "$RATE_PER_10S" -rp 10000 -m "$TOTAL" -l $(( TOTAL )) \
  -nostdin -trace_err -error_file "$WORK/sipp.err" \
  -trace_stat -stf "$WORK/sipp_stat.csv" -fd "$SAMPLE_S" \
  > "$WORK/sipp.out" 2>&1) &
SIPP_PID=$!
PIDS+=("$SIPP_PID")

SAMPLES="$OUT/$NAME-samples.csv"
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

cat "$WORK/plan.txt" "$WORK/ready.txt" > "$WORK/summary.txt"
python3 - "$WORK/sipp_stat.csv" "$WORK/db/soak.db" "$SAMPLES" "${SIPP_RC:-0}" <<'PY' | tee -a "$WORK/summary.txt"
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
      f"answered by an agent: {answered} ({100 * answered / max(queued, 1):.1f} % of queued), "
      f"outcomes: {outcomes}")
agents = q("SELECT COUNT(DISTINCT agent_id) FROM calls WHERE answered_at IS NOT NULL")
def pct(xs, p):
    return xs[min(len(xs) - 1, int(p * len(xs)))] / 1000 if xs else float("nan")
waits = sorted(r[0] for r in c.execute(
    "SELECT answered_at - enqueued_at FROM calls WHERE answered_at IS NOT NULL AND enqueued_at IS NOT NULL"))
talks = sorted(r[0] for r in c.execute(
    "SELECT ended_at - answered_at FROM calls WHERE answered_at IS NOT NULL AND ended_at IS NOT NULL"))
print(f"answered calls: {agents} agents took them; queue to answer median {pct(waits, 0.5):.1f} s, "
      f"p95 {pct(waits, 0.95):.1f} s; answer to end median {pct(talks, 0.5):.1f} s")
unanswered = c.execute("SELECT COALESCE(end_reason, '-'), COUNT(*) FROM calls WHERE queue_id = 'sales' "
                       "AND answered_at IS NULL GROUP BY 1 ORDER BY 2 DESC").fetchall()
print(f"queued, not answered, by end reason: {unanswered or 'none'}")
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
    def slope(rs):  # least squares, MiB per minute
        if len(rs) < 3:
            return float("nan")
        xs = [int(r['t_s']) for r in rs]
        ys = [int(r['rss_kb']) / 1024 for r in rs]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    print(f"RSS slope under load (least squares): {slope(load):.2f} MiB/min over all of it, "
          f"{slope(load[len(load) // 2:]):.2f} MiB/min over its second half")
print(f"after the calls: RSS {s[-1]['rss_kb']} kB, fds {s[-1]['fds']}, threads {s[-1]['threads']}")
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/summary.txt"

if command -v gnuplot >/dev/null; then
  gnuplot <<EOG
set terminal pngcairo size 1000,560 font "sans,10"
set output "$PNG"
set datafile separator ","
set title "Soak: IVR + queue + $SIMULATED simulated agents, ${RATE_PER_10S} calls per 10 s for ${DURATION_S} s (release, shared 2-core VM)"
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
cp "$WORK/summary.txt" "$OUT/$NAME-summary.txt"
kill -TERM "$SW_PID" 2>/dev/null || true
wait "$SW_PID" 2>/dev/null || true
grep -c '"level":"ERROR"\| ERROR ' "$WORK/switch.err" | sed 's/^/switch error lines: /' >&2 || true

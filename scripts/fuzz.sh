#!/usr/bin/env bash
# Fuzz runs: builds the cargo-fuzz targets in fuzz/ and runs each for a fixed time, one after
# the other, under `nice -n 19` and with a single libFuzzer job (the build machine is shared).
# Results are written up in docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [seconds] [target...]
#   default: 600 s per target, every target in fuzz/Cargo.toml
# Environment:
#   MERGE=1             merge the new inputs that add coverage back into fuzz/corpus/<target>
#                       (libFuzzer -merge=1: only inputs with new coverage are copied)
#   FUZZ_TARGET_DIR     cargo target dir for the fuzz build (default: $CARGO_TARGET_DIR-fuzz,
#                       else fuzz/target)
#   FUZZ_SANITIZER      address | none (default none: the code under test is safe Rust, so
#                       ASan would only slow each execution)
#   FUZZ_OUT            where logs, new inputs and crash artifacts go (default: a fresh
#                       /tmp/hotline-fuzz.XXXXXX, kept and printed at the end)
# Needs: cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain RUSTC_BOOTSTRAP=1 is set
# here so cargo-fuzz's nightly-only flags (-Z sanitizer, -C passes=sancov) are accepted.
#
# The committed corpus (fuzz/corpus/<target>/) is only read: libFuzzer writes new inputs into
# the first corpus directory it is given, which is a scratch directory under $FUZZ_OUT. A crash
# is saved as $FUZZ_OUT/artifacts/<target>/crash-<sha1>; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <that file>
# Prints one summary line per target; exits 1 if any target crashed or failed to build.
set -euo pipefail

SECS=${1:-600}
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=$ROOT/fuzz
cd "$FUZZ"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
  exit 2
fi
export RUSTC_BOOTSTRAP=1
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  TDIR=$FUZZ_TARGET_DIR
elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
  TDIR=${CARGO_TARGET_DIR}-fuzz
else
  TDIR=$FUZZ/target
fi
SAN=${FUZZ_SANITIZER:-none}
OUT=${FUZZ_OUT:-$(mktemp -d /tmp/hotline-fuzz.XXXXXX)}
mkdir -p "$OUT"
FLAGS=(--sanitizer "$SAN" --debug-assertions --target-dir "$TDIR")

if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi

echo "fuzz: ${SECS}s per target, targets: ${TARGETS[*]}, sanitizer: $SAN, output: $OUT"
status=0
SUMMARY=()
for t in "${TARGETS[@]}"; do
  if ! nice -n 19 cargo fuzz build "${FLAGS[@]}" "$t" >"$OUT/build-$t.log" 2>&1; then
    SUMMARY+=("fuzz $t: BUILD FAILED (see $OUT/build-$t.log)")
    status=1
    continue
  fi
  corpus=$FUZZ/corpus/$t
  scratch=$OUT/new/$t
  artifacts=$OUT/artifacts/$t
  mkdir -p "$corpus" "$scratch" "$artifacts"
  log=$OUT/$t.log
  started=$(date -u +%FT%TZ)
  # -jobs/-workers stay at their default (one process); -timeout flags an input that takes
  # more than 10 s (a hang is a finding too). Exit status is libFuzzer's: non-zero on a crash.
  set +e
  nice -n 19 cargo fuzz run "${FLAGS[@]}" "$t" "$scratch" "$corpus" -- \
    -max_total_time="$SECS" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o "[0-9]*$" | tail -1 || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o "[0-9]*$" | tail -1 || true)
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o "[0-9]*$" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o "[0-9]*$" || true)
  crashes=$(find "$artifacts" -type f | wc -l)
  new=$(find "$scratch" -type f | wc -l)
  if [ "${MERGE:-0}" = 1 ] && [ "$crashes" -eq 0 ]; then
    nice -n 19 cargo fuzz run "${FLAGS[@]}" "$t" "$corpus" "$scratch" -- -merge=1 \
      >"$OUT/merge-$t.log" 2>&1 || echo "fuzz $t: merge failed, see $OUT/merge-$t.log" >&2
  fi
  files=$(find "$corpus" -type f | wc -l)
  kb=$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s / 1024}')
  line="fuzz $t: started $started, ${SECS}s, execs=${execs:-?} exec/s=${rate:-?} cov=${cov:-?} peak_rss_mb=${rss:-?} new_inputs=$new corpus=${files} files/${kb}KB crashes=$crashes"
  if [ "$crashes" -gt 0 ] || [ $rc -ne 0 ]; then
    line="$line exit=$rc artifacts: $(find "$artifacts" -type f | tr '\n' ' ')"
    status=1
  fi
  echo "$line"
  SUMMARY+=("$line")
done

echo
echo "summary (logs, new inputs and artifacts in $OUT):"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
exit $status

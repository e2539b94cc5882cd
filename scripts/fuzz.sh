#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60),
# one per core at a time, from its seed corpus. New inputs go to a scratch corpus, not into the
# repository; a crash leaves its input in build-fuzz/artifacts/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
FUZZ_DIR="${FUZZ_BUILD_DIR:-build-fuzz}"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs it)" >&2
  exit 1
fi
CC=clang CXX=clang++ cmake -S . -B "$FUZZ_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHYPERPLACE_FUZZ=ON -DHYPERPLACE_BUILD_TESTS=OFF >/dev/null
TARGETS=(extender webhook webhook_patch http watch quantity inspect)
cmake --build "$FUZZ_DIR" --parallel "$(nproc)" --target "${TARGETS[@]/%/_fuzz}"

mkdir -p "$FUZZ_DIR/artifacts"
# One target per core at a time; each writes its own log, summarised when all are done. Fuzzers
# still running when the script ends (an error, ^C) are stopped with it.
mkdir -p "$FUZZ_DIR/logs"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
run_target() {
  local target=$1 scratch="$FUZZ_DIR/corpus-$1"
  mkdir -p "$scratch"
  rm -f "$FUZZ_DIR/artifacts/${target}-"*  # a failing input of an earlier run is its log's matter
  "$FUZZ_DIR/fuzz/${target}_fuzz" "$scratch" "fuzz/corpus/$target" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=1048576 -rss_limit_mb=4096 \
    -artifact_prefix="$FUZZ_DIR/artifacts/${target}-" -print_final_stats=1 \
    >"$FUZZ_DIR/logs/$target.log" 2>&1 || true
  return 0
}
running=0
for target in "${TARGETS[@]}"; do
  run_target "$target" &
  running=$((running + 1))
  if ((running >= $(nproc))); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
for target in "${TARGETS[@]}"; do
  echo "-- $target"
  log="$FUZZ_DIR/logs/$target.log"
  grep -E '^(#[0-9]+ +DONE|stat::(number_of_executed_units|peak_rss_mb)|==[0-9]+==ERROR|SUMMARY)' \
    "$log" || true
  if ls "$FUZZ_DIR/artifacts/${target}-"* >/dev/null 2>&1; then
    echo "fuzz: $target found a failing input: $(ls "$FUZZ_DIR/artifacts/${target}-"*)" >&2
    echo "fuzz: its log: $log" >&2
    failed=1
  elif ! grep -q '^stat::number_of_executed_units' "$log"; then
    echo "fuzz: $target did not run to its end (log $log)" >&2
    failed=1
  fi
done
exit "$failed"

#!/usr/bin/env bash
# The standard benchmark suite, in one command:
#   1. builds hyperplace, hpbench and the micro-benchmarks (RelWithDebInfo, in build-bench/);
#   2. runs the micro-benchmarks (codec_bench, and webhook_bench when it exists);
#   3. runs the hpbench suite against the freshly built hyperplace (fake API server with 100, 1000
#      and 5000 nodes and 30 pods per node, the webhook over TLS with certs/make-certs.sh
#      certificates, the HTTP floor, and a Go standard-library peer webhook when Go is here);
#   4. writes bench/results/latest.json and latest.html, keeps the run before as previous.json
#      and prints the table and the differences to it.
#
#   bench/run.sh [--readme] [--quick] [any hpbench option...]
#
# It also writes bench/results/latest.md: the DESIGN §5 targets as a Markdown table, each figure
# next to its floor from the same run and its limit, with the date, the load average and the
# command. --readme then puts that table into README.md (between its bench-table markers) and the
# HTML report at bench/report.html, which the table links: only after a run with every answer
# right.
#
# Environment: BUILD_DIR (default build-bench), JOBS (build parallelism, default: all cores),
# MICRO_MIN_TIME (seconds per micro-benchmark, default 0.2).
# A few minutes on 2 cores; run it on a quiet machine (the summary prints the load average).
# Every reply is checked against the generator's expected answers; a failed request or a wrong
# answer makes hpbench, and so this script, exit non-zero once the results are written.
set -euo pipefail

readme=0
args=()
for a in "$@"; do
  if [[ $a == --readme ]]; then readme=1; else args+=("$a"); fi
done
command="bench/run.sh${*:+ $*}"
set -- "${args[@]}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
jobs="${JOBS:-$(nproc)}"
min_time="${MICRO_MIN_TIME:-0.2}"
results="$root/bench/results"
mkdir -p "$results"
work="$(mktemp -d "${TMPDIR:-/tmp}/hpbench-run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "== build ($build, -j$jobs)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(hyperplace hpbench codec_bench)
have_webhook_bench=0
if ninja -C "$build" -t targets all 2>/dev/null | grep -q '^webhook_bench:'; then
  targets+=(webhook_bench)
  have_webhook_bench=1
fi
ninja -C "$build" -j"$jobs" "${targets[@]}"

echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== micro-benchmarks"
micro=()
"$build/bench/codec_bench" --benchmark_min_time="$min_time" \
  --benchmark_out="$results/codec_bench.json" --benchmark_out_format=json
micro+=(--micro "$results/codec_bench.json")
if [[ $have_webhook_bench == 1 ]]; then
  webhook_bench="$(find "$build" -name webhook_bench -type f -perm -u+x | head -n1)"
  "$webhook_bench" --benchmark_min_time="$min_time" \
    --benchmark_out="$results/webhook_bench.json" --benchmark_out_format=json
  micro+=(--micro "$results/webhook_bench.json")
fi

certs=()
if [[ -x "$root/certs/make-certs.sh" ]]; then
  "$root/certs/make-certs.sh" "$work/certs" >/dev/null
  certs=(--certs-dir "$work/certs")
fi

compare=()
if [[ -f "$results/latest.json" ]]; then
  mv -f "$results/latest.json" "$results/previous.json"
  compare=(--compare "$results/previous.json")
fi

# The Go standard-library peer webhook (e2e/peers/gowebhook), when Go is here: the webhook loads
# run against it too, for the throughput comparison over 64 connections.
peer=()
if command -v go >/dev/null; then
  (cd "$root/e2e" && go build -trimpath -o "$build/gowebhook" ./peers/gowebhook)
  peer=(--go-webhook "$build/gowebhook")
else
  echo "== no Go on PATH: the webhook is not compared with the Go peer"
fi

echo "== load tests"
label="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
"$build/bench/hpbench" run --hyperplace "$build/hyperplace" "${certs[@]}" "${micro[@]}" \
  "${peer[@]}" --label "$label" --json "$results/latest.json" --html "$results/latest.html" \
  "${compare[@]}" "$@"

# Reached only when every answer was right (hpbench exits 1 otherwise, and so does this script).
"$build/bench/hpbench" report "$results/latest.json" --markdown "$results/latest.md" \
  --command "$command" --html-link bench/report.html >/dev/null
echo "== table: $results/latest.md"
cat "$results/latest.md"
if [[ $readme == 1 ]]; then
  begin='<!-- bench-table:begin (bench/run.sh --readme writes this part) -->'
  end='<!-- bench-table:end -->'
  grep -qxF "$begin" "$root/README.md" && grep -qxF "$end" "$root/README.md" || {
    echo "run.sh: README.md lacks the bench-table markers" >&2
    exit 1
  }
  awk -v begin="$begin" -v end="$end" -v table="$results/latest.md" '
    $0 == begin { print; while ((getline line < table) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }' "$root/README.md" >"$work/README.md"
  cp "$work/README.md" "$root/README.md"
  cp "$results/latest.html" "$root/bench/report.html"
  echo "== README.md and bench/report.html updated"
fi

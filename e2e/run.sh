#!/usr/bin/env bash
# Runs hyperplace's end-to-end suite against a real control plane:
#   1. builds hyperplace (CMake, target `hyperplace`) in $BUILD_DIR (default: build);
#   2. builds etcd, kube-apiserver, kube-scheduler, kube-controller-manager, kwok, Kueue and helm
#      from Go modules (e2e/build.sh; warm after the first time);
#   3. runs `go test ./... -count=1 -v` in e2e/ with HYPERPLACE_BIN set (TestHelm checks the Helm
#      chart and that manifests/ is its rendering), and prints a one-line summary. The full log
#      and the throughput report go to $BUILD_DIR/e2e-results/.
#
# Usage: e2e/run.sh [go test flags, e.g. -run 'TestHyperplace/PodDensity']
#   BUILD_DIR=build-e2e e2e/run.sh     another CMake build folder (relative to the repository)
#   CI=true e2e/run.sh                 on a fresh Debian 12 machine: installs the C++ build
#                                      dependencies first (scripts/setup.sh --deps-only); Go >= 1.26
#                                      must be on PATH, the Go module proxy reachable
#   JOBS=1 GOFLAGS=-p=1 nice -n 10 e2e/run.sh   on a shared machine (JOBS: C++ build jobs)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) build=$BUILD_DIR ;; *) build=$repo/$BUILD_DIR ;; esac
results=$build/e2e-results
began=$(date +%s)

command -v go >/dev/null || { echo "run.sh: go is not on PATH (need Go >= 1.26)" >&2; exit 1; }
gov=$(go env GOVERSION)
case "$gov" in
  go1.2[6-9]*|go1.[3-9][0-9]*|go[2-9]*) ;;
  *) echo "run.sh: $gov is too old (need Go >= 1.26)" >&2; exit 1 ;;
esac

if [[ "${CI:-}" == "true" ]]; then
  echo "== C++ build dependencies (CI=true)"
  "$repo/scripts/setup.sh" --deps-only
fi

echo "== hyperplace ($BUILD_DIR)"
t0=$(date +%s)
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target hyperplace --parallel "${JOBS:-$(nproc)}"
echo "   $(( $(date +%s) - t0 ))s"

echo "== control plane (e2e/build.sh)"
t0=$(date +%s)
"$here/build.sh"
echo "   $(( $(date +%s) - t0 ))s"

echo "== go test"
mkdir -p "$results"
rm -f "$results/throughput.json"
log=$results/go-test.log
set +e
(cd "$here" && HYPERPLACE_BIN="$build/hyperplace" HYPERPLACE_E2E_RESULTS_DIR="$results" \
  go test ./... -count=1 -v -timeout 30m "$@" 2>&1) | tee "$log"
status=${PIPESTATUS[0]}
set -e

# One line: top-level tests and subtests passed/failed, and the time taken.
count() { grep -cE "^$1" "$log" || true; }
pass=$(count '--- PASS: Test')
fail=$(count '--- FAIL: Test')
subpass=$(count ' +--- PASS: ')
subfail=$(count ' +--- FAIL: ')
# Failed leaves only (a parent fails with its subtest).
failed=$(grep -E '^ *--- FAIL: ' "$log" | sed -E 's/^ *--- FAIL: ([^ ]+).*/\1/' |
  awk '{ n[NR] = $0 } END { for (i = 1; i <= NR; i++) { leaf = 1
    for (j = 1; j <= NR; j++) if (index(n[j], n[i] "/") == 1) leaf = 0
    if (leaf) printf "%s%s", (k++ ? " " : ""), n[i] } }' || true)
tput=""
if [[ -f "$results/throughput.json" ]]; then
  field() { sed -n "s/^  \"$1\": \([0-9.eE+-]*\).*/\1/p" "$results/throughput.json"; }
  tput=$(awk -v a="$(field pods_per_second_alone)" -v w="$(field pods_per_second_with_hyperplace)" \
    -v r="$(field ratio_with_over_without)" -v c="$(field scheduler_cpu_ratio_with_over_without)" \
    'BEGIN { if (a != "") printf "; throughput %.0f -> %.0f pods/s with hyperplace (ratio %.2f; kube-scheduler CPU per pod x%.2f)", a, w, r, c }')
fi
summary="e2e: $pass tests passed, $fail failed ($subpass subtests passed, $subfail failed) in $(( $(date +%s) - began ))s$tput"
[[ -n "$failed" ]] && summary="$summary; failed: $failed"
echo "$summary"
echo "   log: $log"
exit "$status"

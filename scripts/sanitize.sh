#!/usr/bin/env bash
# Runs the tests under the sanitizers, each in its own build folder:
#   - every unit and HTTP test (CTest) under AddressSanitizer + UBSan (build-asan);
#   - the concurrency tests — cluster state and bind tracker, watch cache and binder, informers,
#     the HTTP server — under ThreadSanitizer (build-tsan).
# A report from either fails the run (UBSan does not recover; ASan and TSan exit non-zero).
#
#   scripts/sanitize.sh            both
#   scripts/sanitize.sh asan|tsan  one
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
jobs=$(nproc)

# The 5000-node agreement test sends 43 MB requests; under ASan the 1000-node case covers the
# same paths (the uninstrumented build runs both sizes).
# Sanitizer builds compile at -O1 with line tables only: half the compile time of -O2 -g on two
# cores, and still full stack traces.
FLAGS=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1")

# The test executables of a configured build folder (what CTest runs; not the benchmarks).
test_targets() {
  ninja -C "$1" -t targets all | sed -nE 's|^([a-z_]+_test): phony$|\1|p' |
    grep -v '^cmake_object_order' | sort -u
}

asan() {
  echo "== ASan + UBSan (build-asan)"
  cmake -S . -B build-asan "${FLAGS[@]}" -DHYPERPLACE_SANITIZE=ON >/dev/null
  mapfile -t targets < <(test_targets build-asan)
  cmake --build build-asan --parallel "$jobs" --target "${targets[@]}"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure --parallel "$jobs" --timeout 600 \
    -E '5000Nodes'
}

TSAN_TESTS=(extender_test extender_kube_test kube_test net_http_server_test)
tsan() {
  echo "== ThreadSanitizer (build-tsan): ${TSAN_TESTS[*]}"
  cmake -S . -B build-tsan "${FLAGS[@]}" -DHYPERPLACE_TSAN=ON >/dev/null
  cmake --build build-tsan --parallel "$jobs" --target "${TSAN_TESTS[@]}"
  # TSan needs its fixed shadow layout: run without address-space randomisation.
  mkdir -p build-tsan/logs
  for t in "${TSAN_TESTS[@]}"; do
    bin=$(find build-tsan -name "$t" -type f -executable | head -n 1)
    log=build-tsan/logs/$t.log
    if TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp" setarch "$(uname -m)" -R "$bin" \
      --gtest_brief=1 >"$log" 2>&1; then
      echo "-- $t: $(grep -E '^\[  PASSED  \]' "$log")"
    else
      grep -vE 'level=(info|debug)' "$log" | tail -n 60
      echo "sanitize: $t failed under TSan (whole log: $log)" >&2
      exit 1
    fi
  done
}

case "$which" in
  asan) asan ;;
  tsan) tsan ;;
  all) asan; tsan ;;
  *) echo "usage: scripts/sanitize.sh [asan|tsan]" >&2; exit 2 ;;
esac

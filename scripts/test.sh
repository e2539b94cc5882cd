#!/usr/bin/env bash
# Runs hyperplace's whole test suite: build, unit and HTTP tests (CTest), the format check, and
# the fuzz targets for a bounded time. Run scripts/setup.sh once first on a fresh machine.
#
#   FUZZ_SECONDS=60 scripts/test.sh   fuzz each target longer (default 20 s; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"

echo "== build"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"

echo "== unit and HTTP tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure --parallel "$(nproc)" --timeout 300

echo "== format"
scripts/format.sh --check

if [[ "$FUZZ_SECONDS" != 0 ]]; then
  echo "== fuzz (${FUZZ_SECONDS}s per target)"
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi
echo "== all tests passed"

#!/usr/bin/env bash
# Runs hyperplace's whole test suite: build, unit and HTTP tests (CTest), the same tests under
# ASan + UBSan and the concurrency tests under TSan (scripts/sanitize.sh), the format check, the
# fuzz targets for a bounded time, the container image (scripts/image.sh, then
# scripts/image-smoke.sh), and the end-to-end suite against a real kube-apiserver, etcd
# and kube-scheduler built from Go modules (e2e/run.sh; about 20 minutes the first time on 2
# cores, 4.5 minutes once the Go caches are warm). C++ builds go through ccache when installed:
# the whole suite then takes about 10 minutes on a machine that ran it before. Run
# scripts/setup.sh once first on a fresh machine; the end-to-end suite needs Go >= 1.26 and the
# Go module proxy.
#
#   FUZZ_SECONDS=60 scripts/test.sh   fuzz each target longer (default 20 s)
#   SANITIZE=0 scripts/test.sh        skip the sanitizer builds (CI always runs them)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"

echo "== build"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"

echo "== unit and HTTP tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure --parallel "$(nproc)" --timeout 300

if [[ "${SANITIZE:-1}" != "0" || "${CI:-}" == "true" ]]; then
  scripts/sanitize.sh
fi

echo "== format"
scripts/format.sh --check

echo "== fuzz (${FUZZ_SECONDS}s per target)"
scripts/fuzz.sh "$FUZZ_SECONDS"

echo "== image"
# The container image from build/hyperplace (no registry; up to date here) and its smoke test: files,
# the binary under chroot as 65532, the image under podman with a read-only root.
missing_tools=()
for tool in buildah umoci skopeo jq; do
  command -v "$tool" >/dev/null || missing_tools+=("$tool")
done
why=""
if ((${#missing_tools[@]})); then
  why="${missing_tools[*]} not installed; scripts/setup.sh installs them"
elif [[ $(id -u) -ne 0 ]]; then
  why="needs root"
fi
if [[ -n "$why" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "image: cannot run in CI ($why)" >&2
    exit 1
  fi
  echo "image: skipped ($why)"
else
  BUILD_DIR="$BUILD_DIR" scripts/image.sh
  BUILD_DIR="$BUILD_DIR" scripts/image-smoke.sh
fi

echo "== end to end (real kube-apiserver, etcd, kube-scheduler)"
BUILD_DIR="$BUILD_DIR" e2e/run.sh

echo "== all tests passed"

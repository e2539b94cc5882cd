#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for hyperplace and builds it.
#
#   scripts/setup.sh              install missing packages (apt-get, as root or through sudo), build
#   scripts/setup.sh --deps-only  install missing packages only
#   SETUP_IMAGE_TOOLS=0 scripts/setup.sh ...   without the container image's tools (nor Chromium)
#
# Everything comes from Debian's packages; nothing is downloaded from elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git openssl ca-certificates
  libssl-dev libcpp-httplib-dev libsimdjson-dev libyaml-cpp-dev libboost1.81-dev
  nlohmann-json3-dev rapidjson-dev libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format ccache prometheus-cpp-dev
)
# The container image's tools (scripts/image.sh, scripts/image-smoke.sh): buildah builds it, skopeo
# and jq read it, umoci unpacks it, podman runs it (with runc: crun refuses this kind of machine's
# hybrid cgroups). The Containerfile's build stage sets SETUP_IMAGE_TOOLS=0: it only compiles.
if [[ "${SETUP_IMAGE_TOOLS:-1}" != "0" ]]; then
  PACKAGES+=(buildah umoci skopeo jq podman runc)
fi
# Headless Chromium renders `hyperplace topology --output html` in a test (inspect/page_test.sh)
# and takes the README's screenshot. Not for the Containerfile's build stage either.
if [[ "${SETUP_BROWSER:-${SETUP_IMAGE_TOOLS:-1}}" != "0" ]]; then
  PACKAGES+=(chromium)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[[ "${1:-}" == "--deps-only" ]] && exit 0

BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
echo "setup: built $BUILD_DIR/hyperplace"

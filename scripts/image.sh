#!/usr/bin/env bash
# Builds hyperplace's container image without pulling anything from a registry: the binary that
# scripts/setup.sh built in $BUILD_DIR (brought up to date with cmake first), its
# root filesystem laid out by scripts/image-rootfs.sh (as the Containerfile's build stage does),
# committed FROM scratch with buildah into an OCI archive. Runs as root (buildah's vfs driver and
# chroot isolation), with a private storage under $BUILD_DIR/image that it removes on exit: it
# needs no container configuration of the machine and leaves only the archive behind.
#
#   scripts/image.sh                      writes $BUILD_DIR/image/hyperplace-VERSION.oci.tar
#   scripts/image.sh --tag NAME:VERSION   names the image in the archive (default hyperplace:VERSION)
#   scripts/image.sh --load               also loads it into this machine's podman storage
#
# VERSION is what `$BUILD_DIR/hyperplace version` prints (project() in CMakeLists.txt). Layer
# timestamps are $SOURCE_DATE_EPOCH, else the last commit's time: the same binary at the same
# commit gives the same digest. Push the archive with skopeo, e.g.:
#   skopeo copy oci-archive:build/image/hyperplace-0.1.0.oci.tar \
#     docker://123456789012.dkr.ecr.us-west-2.amazonaws.com/hyperplace:0.1.0
# scripts/image-smoke.sh checks the archive.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"

tag="" load=0
while (($#)); do
  case "$1" in
    --tag)
      [[ $# -ge 2 && "$2" == *:* ]] || { echo "image: --tag needs NAME:VERSION" >&2; exit 2; }
      tag=$2
      shift 2
      ;;
    --tag=*:*) tag=${1#--tag=}; shift ;;
    --load) load=1; shift ;;
    *) echo "usage: scripts/image.sh [--tag NAME:VERSION] [--load]" >&2; exit 2 ;;
  esac
done

for tool in buildah skopeo strip ldd; do
  command -v "$tool" >/dev/null || {
    echo "image: $tool not found (scripts/setup.sh installs it)" >&2
    exit 1
  }
done
if [[ $(id -u) -ne 0 ]]; then
  echo "image: run as root (buildah's vfs storage and chroot isolation)" >&2
  exit 1
fi

# Built (or brought up to date: a no-op when it is) from this checkout, so the revision label
# below names the commit the binary was built from.
binary="$BUILD_DIR/hyperplace"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target hyperplace >/dev/null
# "hyperplace 0.1.0 (json kernel haswell)"
version=$("$binary" version | awk '$1 == "hyperplace" {print $2}')
project_version=$(sed -n 's/^project(hyperplace VERSION \([^ )]*\).*/\1/p' CMakeLists.txt)
if [[ -z "$version" ]]; then
  echo "image: cannot read the version of $binary" >&2
  exit 1
fi
if [[ "$version" != "$project_version" ]]; then
  echo "image: warning: $binary is version $version, CMakeLists.txt says $project_version" \
    "(an old build? cmake --build $BUILD_DIR)" >&2
fi
tag=${tag:-hyperplace:$version}
revision=$(git rev-parse HEAD 2>/dev/null || true)
if [[ -n "$revision" && -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  revision="$revision-dirty"
fi
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

out="$BUILD_DIR/image"
archive="$out/hyperplace-$version.oci.tar"
work="$out/work"  # rootfs, buildah's storage, the signature policy: all removed on exit
rm -rf "$work"    # what a killed run left
mkdir -p "$work"
work=$(cd "$work" && pwd)
# Local content into a local archive: no signature to check, whatever the machine's policy says.
echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$work/policy.json"

export BUILDAH_ISOLATION=chroot
buildah=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
container=""
cleanup() {
  if [[ -n "$container" ]]; then "${buildah[@]}" rm "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s.%N)
scripts/image-rootfs.sh "$binary" "$work/rootfs"

container=$("${buildah[@]}" from --name "hyperplace-image-$$" scratch)
"${buildah[@]}" copy --quiet "$container" "$work/rootfs/" / >/dev/null
description="Kubernetes scheduler extender and admission webhook for ML pods on accelerated clusters"
labels=(
  --label org.opencontainers.image.title=hyperplace
  --label "org.opencontainers.image.description=$description"
  --label "org.opencontainers.image.version=$version"
)
[[ -z "$revision" ]] || labels+=(--label "org.opencontainers.image.revision=$revision")
# The repository's web address when origin has one, without any user or token in it.
source_url=$(git remote get-url origin 2>/dev/null | sed -E 's#^(https?://)[^/@]*@#\1#' || true)
[[ "$source_url" != http* ]] || labels+=(--label "org.opencontainers.image.source=$source_url")
# The same configuration as the Containerfile's runtime stage (scripts/image-smoke.sh compares).
"${buildah[@]}" config \
  --user 65532:65532 \
  --workingdir / \
  --env PATH=/usr/local/bin \
  --port 8888 --port 8443 --port 8080 \
  --entrypoint '["/usr/local/bin/hyperplace"]' \
  --cmd serve \
  --created-by "scripts/image.sh (buildah, FROM scratch)" \
  "${labels[@]}" \
  "$container"

rm -f "$archive"
"${buildah[@]}" commit --quiet --rm --timestamp "$epoch" --identity-label=false \
  --disable-compression=false --signature-policy "$work/policy.json" \
  "$container" "oci-archive:$archive:$tag" >/dev/null
container=""
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')

digest=$(skopeo inspect --format '{{.Digest}}' "oci-archive:$archive")
archive_kib=$(($(stat -c %s "$archive") / 1024))
rootfs_kib=$(du -sk "$work/rootfs" | cut -f1)
echo "image: $archive ($tag)"
echo "image: ${archive_kib} KiB archive (gzip layer), ${rootfs_kib} KiB unpacked, built in ${elapsed} s"
echo "image: digest $digest"

if ((load)); then
  command -v podman >/dev/null || { echo "image: --load needs podman" >&2; exit 1; }
  podman load --quiet --input "$archive"
fi

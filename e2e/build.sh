#!/usr/bin/env bash
# Builds the real control plane used by the e2e tests, from the Go module proxy:
#   kube-apiserver, kube-scheduler, kube-controller-manager
#                                   (k8s.io/kubernetes, pinned in e2e/go.mod)
#   etcd                            (go.etcd.io/etcd/server/v3, pinned in e2e/tools/etcd/go.mod)
#   kwok, with kwok-pod-stages.yaml (sigs.k8s.io/kwok, pinned in e2e/tools/kwok/go.mod)
#   kueue, with its CRDs and webhook configurations in kueue-config/
#                                   (sigs.k8s.io/kueue, pinned in e2e/tools/kueue/go.mod)
#   helm                            (helm.sh/helm/v3, pinned in e2e/tools/helm/go.mod; the
#                                   chart test and scripts/manifests.sh run it)
# into ${HYPERPLACE_E2E_BIN:-$HOME/.cache/hyperplace-e2e/bin}.
#
# A binary is rebuilt only when its stamp (<name>.stamp beside it) differs: the
# stamp names the module version, the Go version and a hash of the exact module
# versions linked into it (go list -deps) and of the flags below, so unrelated
# go.mod changes (e.g. a new harness dependency) do not rebuild it. GOCACHE and
# GOMODCACHE keep their defaults so that a rebuild on the same machine is warm.
#
# Usage: e2e/build.sh [--force] [etcd|kube|kwok|kueue|helm ...]     (default: all)
# On a shared machine: GOFLAGS=-p=1 nice -n 10 e2e/build.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${HYPERPLACE_E2E_BIN:-$HOME/.cache/hyperplace-e2e/bin}
export GOTOOLCHAIN=local CGO_ENABLED=0

force=0
targets=()
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    etcd|kube|kwok|kueue|helm) targets+=("$a") ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(etcd kube kwok kueue helm)

command -v go >/dev/null || { echo "build.sh: go is not on PATH (need Go >= 1.26)" >&2; exit 1; }
gov=$(go env GOVERSION)
mkdir -p "$BIN"

# modversion DIR MODULE -> the version of MODULE selected in the module at DIR.
modversion() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

# stamp NAME DIR MODULE VERSION LDFLAGS PKG... -> the line written to NAME.stamp.
stamp() {
  local name=$1 dir=$2 mod=$3 ver=$4 ldf=$5; shift 5
  local deps h
  deps=$(cd "$dir" && go list -deps \
    -f '{{with .Module}}{{.Path}}@{{.Version}}{{with .Replace}}=>{{.Path}}@{{.Version}}{{end}}{{end}}' "$@" | sort -u)
  h=$(printf '%s\n' "$deps" "$gov" "$ldf" "$(go env GOOS GOARCH CGO_ENABLED)" | sha256sum | cut -c1-16)
  echo "$name $mod@$ver $gov $h"
}

uptodate() { # NAME STAMP
  [ "$force" = 0 ] && [ -x "$BIN/$1" ] && [ -f "$BIN/$1.stamp" ] && [ "$(cat "$BIN/$1.stamp")" = "$2" ]
}

# build DIR OUTDIR LDFLAGS PKG... : go build into OUTDIR (a new temp folder).
gobuild() {
  local dir=$1 out=$2 ldf=$3; shift 3
  (cd "$dir" && go build -trimpath -ldflags "$ldf" -o "$out/" "$@")
}

# install TMP NAME STAMP : move a fresh binary into place, then its stamp.
install_bin() {
  mv -f "$1/$2" "$BIN/$2"
  echo "$3" > "$BIN/$2.stamp"
  echo "  $BIN/$2  $(du -h "$BIN/$2" | cut -f1)  ($3)"
}

tmp=$(mktemp -d "$BIN/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for t in "${targets[@]}"; do
  start=$(date +%s)
  case "$t" in
  kube)
    dir=$here
    ver=$(modversion "$dir" k8s.io/kubernetes)
    minor=$(echo "$ver" | cut -d. -f2)
    # The same -X set as kubernetes' hack/lib/version.sh, so clients see the real version.
    ldf="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldf="$ldf -X $p.gitVersion=$ver -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
      ldf="$ldf -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    sa=$(stamp kube-apiserver "$dir" k8s.io/kubernetes "$ver" "$ldf" k8s.io/kubernetes/cmd/kube-apiserver)
    ss=$(stamp kube-scheduler "$dir" k8s.io/kubernetes "$ver" "$ldf" k8s.io/kubernetes/cmd/kube-scheduler)
    sc=$(stamp kube-controller-manager "$dir" k8s.io/kubernetes "$ver" "$ldf" k8s.io/kubernetes/cmd/kube-controller-manager)
    pkgs=()
    uptodate kube-apiserver "$sa" || pkgs+=(k8s.io/kubernetes/cmd/kube-apiserver)
    uptodate kube-scheduler "$ss" || pkgs+=(k8s.io/kubernetes/cmd/kube-scheduler)
    uptodate kube-controller-manager "$sc" || pkgs+=(k8s.io/kubernetes/cmd/kube-controller-manager)
    if [ ${#pkgs[@]} = 0 ]; then
      echo "kube-apiserver, kube-scheduler, kube-controller-manager $ver: up to date"; continue
    fi
    echo "building ${pkgs[*]##*/} $ver ..."
    # One go build for all: the packages they share compile once.
    gobuild "$dir" "$tmp" "$ldf" "${pkgs[@]}"
    for p in "${pkgs[@]}"; do
      name=${p##*/}
      case $name in
        kube-apiserver) install_bin "$tmp" "$name" "$sa" ;;
        kube-scheduler) install_bin "$tmp" "$name" "$ss" ;;
        kube-controller-manager) install_bin "$tmp" "$name" "$sc" ;;
      esac
    done
    ;;
  etcd)
    dir=$here/tools/etcd
    ver=$(modversion "$dir" go.etcd.io/etcd/server/v3)
    ldf="-s -w"
    s=$(stamp etcd "$dir" go.etcd.io/etcd/server/v3 "$ver" "$ldf" go.etcd.io/etcd/server/v3)
    if uptodate etcd "$s"; then echo "etcd $ver: up to date"; continue; fi
    echo "building etcd $ver ..."
    # The main package is the module root; its default binary name would be "v3".
    (cd "$dir" && go build -trimpath -ldflags "$ldf" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
    install_bin "$tmp" etcd "$s"
    ;;
  kwok)
    dir=$here/tools/kwok
    ver=$(modversion "$dir" sigs.k8s.io/kwok)
    ldf="-s -w"
    s=$(stamp kwok "$dir" sigs.k8s.io/kwok "$ver" "$ldf" sigs.k8s.io/kwok/cmd/kwok)
    # kwok's default pod stages, less pod-complete (which ends a Job's pods as soon as they
    # run): the tests end them.
    stages=$(cd "$dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage/pod/fast
    { cat "$stages/pod-ready.yaml"; echo "---"; cat "$stages/pod-delete.yaml"; } > "$BIN/kwok-pod-stages.yaml"
    if uptodate kwok "$s"; then echo "kwok $ver: up to date"; continue; fi
    echo "building kwok $ver ..."
    gobuild "$dir" "$tmp" "$ldf" sigs.k8s.io/kwok/cmd/kwok
    install_bin "$tmp" kwok "$s"
    ;;
  kueue)
    dir=$here/tools/kueue
    ver=$(modversion "$dir" sigs.k8s.io/kueue)
    ldf="-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$ver"
    s=$(stamp kueue "$dir" sigs.k8s.io/kueue "$ver" "$ldf" sigs.k8s.io/kueue/cmd/kueue)
    if uptodate kueue "$s" && [ -d "$BIN/kueue-config" ]; then echo "kueue $ver: up to date"; continue; fi
    echo "building kueue $ver ..."
    gobuild "$dir" "$tmp" "$ldf" sigs.k8s.io/kueue/cmd/kueue
    # The tests install Kueue's CRDs and webhooks from the same module, without go at run time.
    src=$(cd "$dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)/config/components
    rm -rf "$BIN/kueue-config" "$tmp/kueue-config"
    mkdir -p "$tmp/kueue-config/crd/bases" "$tmp/kueue-config/crd/patches"
    cp "$src"/crd/bases/*.yaml "$tmp/kueue-config/crd/bases/"
    cp "$src"/crd/kustomization.yaml "$tmp/kueue-config/crd/"
    cp "$src"/crd/patches/*.yaml "$tmp/kueue-config/crd/patches/"
    cp "$src"/webhook/manifests.yaml "$tmp/kueue-config/webhooks.yaml"
    chmod -R u+w "$tmp/kueue-config"
    mv "$tmp/kueue-config" "$BIN/kueue-config"
    install_bin "$tmp" kueue "$s"
    ;;
  helm)
    dir=$here/tools/helm
    ver=$(modversion "$dir" helm.sh/helm/v3)
    # As helm's Makefile sets them for a release: `helm version` prints $ver, and the
    # Kubernetes version that `helm template` and `helm lint` assume is that of its client-go.
    kv=$(modversion "$dir" k8s.io/client-go)
    kmaj=$(( $(echo "$kv" | cut -d. -f1 | tr -d v) + 1 ))
    kmin=$(echo "$kv" | cut -d. -f2)
    ldf="-s -w -X helm.sh/helm/v3/internal/version.version=$ver"
    ldf="$ldf -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      ldf="$ldf -X $p.k8sVersionMajor=$kmaj -X $p.k8sVersionMinor=$kmin"
    done
    s=$(stamp helm "$dir" helm.sh/helm/v3 "$ver" "$ldf" helm.sh/helm/v3/cmd/helm)
    if uptodate helm "$s"; then echo "helm $ver: up to date"; continue; fi
    echo "building helm $ver ..."
    gobuild "$dir" "$tmp" "$ldf" helm.sh/helm/v3/cmd/helm
    install_bin "$tmp" helm "$s"
    ;;
  esac
  echo "  $t: $(( $(date +%s) - start ))s"
done

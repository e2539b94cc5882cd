#!/usr/bin/env bash
# Renders manifests/*.yaml from the Helm chart (charts/hyperplace), so that the plain manifests
# and the chart never drift apart: `helm template hyperplace charts/hyperplace --namespace
# hyperplace-system -f charts/hyperplace/ci/manifests-values.yaml`, each template's objects into
# the file of the same name (pdb.yaml's into deployment.yaml), and the data of hyperplace's
# scheduler's ConfigMap into scheduler-config.yaml as the plain file kube-scheduler reads. Edit
# the chart, never manifests/ by hand, then run this.
#
# Usage: scripts/manifests.sh           rewrite manifests/*.yaml
#        scripts/manifests.sh --check   change nothing; exit 1 with a diff if manifests/ differs
#                                       (e2e TestHelm runs this)
# helm: $HELM, else helm in ${HYPERPLACE_E2E_BIN:-$HOME/.cache/hyperplace-e2e/bin} (e2e/build.sh
# helm builds it from the Go module proxy), else helm on PATH.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart=$repo/charts/hyperplace
out=$repo/manifests

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
  *) echo "manifests.sh: unknown argument '$1'" >&2; exit 2 ;;
esac

helm=${HELM:-}
if [[ -z "$helm" ]]; then
  helm=${HYPERPLACE_E2E_BIN:-$HOME/.cache/hyperplace-e2e/bin}/helm
  [[ -x "$helm" ]] || helm=$(command -v helm || true)
fi
if [[ -z "$helm" || ! -x "$helm" ]]; then
  echo "manifests.sh: no helm (set HELM, or build it: e2e/build.sh helm)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$helm" template hyperplace "$chart" --namespace hyperplace-system \
  -f "$chart/ci/manifests-values.yaml" > "$tmp/all.yaml"

# Split on helm's "---" + "# Source: hyperplace/templates/NAME" lines: each document goes to
# $tmp/parts/NAME (documents joined by "---", in helm's order), the "# Source:" line dropped.
mkdir -p "$tmp/parts"
awk -v dir="$tmp/parts" '
  /^---$/ { pending = 1; next }
  pending && /^# Source: / {
    pending = 0
    name = $3; sub(/^.*\//, "", name)
    file = dir "/" name
    if (file in seen) print "---" > file
    seen[file] = 1
    next
  }
  pending { print "manifests.sh: a document without a # Source: line" > "/dev/stderr"; exit 1 }
  { print > file }
' "$tmp/all.yaml"

# manifests file <- the chart's templates, in this order.
declare -A sources=(
  [namespace.yaml]="namespace.yaml"
  [rbac.yaml]="rbac.yaml"
  [configmap.yaml]="configmap.yaml"
  [deployment.yaml]="deployment.yaml pdb.yaml"
  [service.yaml]="service.yaml"
  [networkpolicy.yaml]="networkpolicy.yaml"
  [mutating-webhook.yaml]="mutating-webhook.yaml"
  [scheduler.yaml]="scheduler.yaml"
  [kueue-example.yaml]="kueue-example.yaml"
)
mkdir -p "$tmp/manifests"
used=" scheduler-config.yaml "
for f in "${!sources[@]}"; do
  first=1
  for s in ${sources[$f]}; do
    if [[ ! -f "$tmp/parts/$s" ]]; then
      echo "manifests.sh: templates/$s rendered nothing for manifests/$f" >&2
      exit 1
    fi
    [[ $first = 1 ]] || echo "---" >> "$tmp/manifests/$f"
    cat "$tmp/parts/$s" >> "$tmp/manifests/$f"
    first=0
    used="$used$s "
  done
done
for p in "$tmp"/parts/*; do
  case "$used" in
    *" $(basename "$p") "*) ;;
    *) echo "manifests.sh: templates/$(basename "$p") rendered with ci/manifests-values.yaml but has no manifests file" >&2; exit 1 ;;
  esac
done

# scheduler-config.yaml is not an API object: the ConfigMap's data, as kube-scheduler reads it
# (the literal block under "scheduler-config.yaml: |", indented 4).
awk '
  in_block && /^    / { print substr($0, 5); next }
  in_block && /^$/ { print ""; next }
  in_block { exit }
  /^  scheduler-config\.yaml: \|$/ { in_block = 1 }
' "$tmp/parts/scheduler-config.yaml" > "$tmp/manifests/scheduler-config.yaml"
if [[ ! -s "$tmp/manifests/scheduler-config.yaml" ]]; then
  echo "manifests.sh: no scheduler-config.yaml in the scheduler's ConfigMap" >&2
  exit 1
fi

if [[ $check = 1 ]]; then
  status=0
  for f in "$tmp"/manifests/*.yaml; do
    if ! diff -u "$out/$(basename "$f")" "$f"; then status=1; fi
  done
  for f in "$out"/*.yaml; do
    if [[ ! -f "$tmp/manifests/$(basename "$f")" ]]; then
      echo "manifests.sh: manifests/$(basename "$f") is not rendered from the chart" >&2
      status=1
    fi
  done
  if [[ $status != 0 ]]; then
    echo "manifests.sh: manifests/ differs from charts/hyperplace (run scripts/manifests.sh)" >&2
  fi
  exit $status
fi
for f in "$tmp"/manifests/*.yaml; do
  cp "$f" "$out/$(basename "$f")"
done
echo "manifests/: $(cd "$tmp/manifests" && ls | tr '\n' ' ')from charts/hyperplace ($("$helm" version --short))"

#!/usr/bin/env bash
# The topology page in a real browser: headless Chromium loads `hyperplace topology --output
# html` of the fixed cluster as XHTML (so a markup error is a parse error), and the test fails on
# any console message (the page's Content-Security-Policy reports every fetch or script it
# blocks), on a parse error, or when the drawing and its numbers are not in the DOM. Then it takes
# the screenshot the README shows; HYPERPLACE_UPDATE_GOLDEN=1 copies it to docs/topology.png.
#
#   inspect/page_test.sh HYPERPLACE_BIN OUT_DIR
#
# Exit 77 (CTest: skipped) without Chromium, except in CI (CI=true), where that is a failure.
set -euo pipefail
bin=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z "$chromium" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "page_test: chromium not installed (scripts/setup.sh installs it)" >&2
    exit 1
  fi
  echo "page_test: skipped, chromium not installed (scripts/setup.sh installs it)"
  exit 77
fi
rm -rf "$out/profile"
"$bin" topology --from "$repo/inspect/testdata/cluster.json" --output html --jobs >"$out/page.xhtml"

browse() {
  # Root needs --no-sandbox; the profile stays in the output folder.
  "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$out/profile" --enable-logging=stderr --v=0 "$@"
}
browse --dump-dom "file://$out/page.xhtml" >"$out/dom.xhtml" 2>"$out/chromium.log"

fail=0
check() {  # check DESCRIPTION COMMAND...: runs COMMAND, reports DESCRIPTION when it fails
  local what=$1
  shift
  if ! "$@"; then
    echo "page_test: FAIL: $what" >&2
    fail=1
  fi
}
check "console messages (blocked fetches, scripts, errors): $(grep ':CONSOLE' "$out/chromium.log" | head -3)" \
  bash -c "! grep -q ':CONSOLE' '$out/chromium.log'"
check "the page did not load: $(grep -o 'Page load failed.*' "$out/chromium.log" | head -1)" \
  bash -c "! grep -q 'Page load failed' '$out/chromium.log'"
check "the XHTML does not parse" bash -c "! grep -q '<parsererror' '$out/dom.xhtml'"
check "no SVG drawing in the DOM" grep -q '<svg[^>]*id="tree"' "$out/dom.xhtml"
# The fixture: 15 nodes, 13 healthy, 40 of 84 GPUs free; 14 domains and the cluster, 15 nodes
# drawn; nn-3011 holds train-a (4 nodes, none of its 32 GPUs free); 4 jobs in the table.
check "summary" grep -q '15 nodes, 13 healthy, neuron 16 of 32 free, neuroncore 64 of 64 free, gpu 40 of 84 free' "$out/dom.xhtml"
boxes=$(grep -o '<g class="' "$out/dom.xhtml" | wc -l)
check "30 boxes drawn, got $boxes" test "$boxes" -eq 30
check "nn-3011's figures" grep -q 'data-name="nn-3011" data-nodes="4" data-healthy="4" data-resource="nvidia.com/gpu" data-free="0" data-total="32"' "$out/dom.xhtml"
rows=$(grep -o '<tr>' "$out/dom.xhtml" | wc -l)
check "jobs table with 4 jobs, got $((rows - 1))" test "$rows" -eq 5
check "hostile message shown as text" grep -q '&lt;script&gt;alert' "$out/dom.xhtml"

browse --screenshot="$out/topology.png" --window-size=1240,900 "file://$out/page.xhtml" \
  2>>"$out/chromium.log" >/dev/null
check "screenshot written" bash -c "head -c 8 '$out/topology.png' | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"
if [[ "${HYPERPLACE_UPDATE_GOLDEN:-}" == "1" && $fail -eq 0 ]]; then
  mkdir -p "$repo/docs"
  cp "$out/topology.png" "$repo/docs/topology.png"
  echo "page_test: docs/topology.png updated"
fi
((fail == 0)) && echo "page_test: the page loads cleanly in $("$chromium" --version 2>/dev/null | head -1)"
exit $fail

#!/usr/bin/env bash
# Checks `attsr eval --html`'s page in a real browser: Debian's headless Chromium
# (apt-get install chromium) loads it, a probe script run after the page's own checks
# that every embedded image decoded, that both tables have their rows and that a click
# on a score header sorts the images' table; then a screenshot is taken. Outside the
# default suite (Chromium is large, and a start takes seconds); tests/cli_report.sh
# checks the page's content without a browser.
#
#   bash tools/check_report.sh [OUTDIR] [HR_DIR...]
#       OUTDIR: where the page, the probed copy and screenshot.png go
#               (default: a temporary folder, removed unless the check fails)
#       HR_DIR: the folders to evaluate (default: samples/)
#   bash tools/check_report.sh --page PAGE EVAL_JSON [OUTDIR]
#       a page written before, e.g. by tools/experiment.sh (OUT/report/VARIANT/index.html
#       with OUT/VARIANT/eval.json, the scores of the same evaluation, which give the
#       images and sets the page must show)
#   bash tools/check_report.sh --experiment OUT [OUTDIR]
#       tools/experiment.sh's pages in OUT/report: the comparison page (its tables'
#       rows, links, sorting; a screenshot), then every variant's page as --page does
# (Paths: absolute, or relative to the repository.)
# Needs build/attsr (make). Exit 0 and "check_report: ok" when every check holds.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "check_report: no chromium (apt-get install chromium)" >&2; exit 2; }
[ -x build/attsr ] || { echo "check_report: no build/attsr (make)" >&2; exit 2; }
if [ "${1:-}" = --experiment ]; then
    [ $# -ge 2 ] || { echo "usage: tools/check_report.sh --experiment OUT [OUTDIR]" >&2; exit 2; }
    exp=$(realpath "$2") out=${3:-$(mktemp -d)}
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    fail() { echo "check_report: FAIL: $*" >&2; echo "check_report: files kept in $out" >&2; exit 1; }
    page=$exp/report/index.html
    [ -s "$page" ] || fail "no $page"
    variants=$(grep -o '<td><a href="[^"/]*/index.html">' "$page" | sed 's/.*href="\([^"/]*\)\/.*/\1/')
    n_var=$(echo "$variants" | wc -w)
    n_images=$(grep -o '"ssim": [^,}]*}' "$exp/$(echo "$variants" | head -1)/eval.json" | wc -l)
    # the probe: the tables' rows, the links to the variants' pages and to their images'
    # sections, and a click (twice) on the first variant's column of the images table
    probe='<script>
window.addEventListener("load",()=>{
  const t=document.querySelector("#images"), hs=[...t.tHead.rows[0].cells];
  const vals=()=>[...t.tBodies[0].rows].map(r=>parseFloat(r.cells[3].dataset.v));
  const sorted=(a,s)=>a.every((x,i)=>i==0||s*(x-a[i-1])>=0);
  hs[3].click(); const up=sorted(vals(),1); hs[3].click(); const down=sorted(vals(),-1);
  const p=document.createElement("pre"); p.id="probe";
  p.textContent="variants "+document.querySelector("#variants").tBodies[0].rows.length+" rows "+t.tBodies[0].rows.length+
    " sections "+document.querySelectorAll("#images a[href*=\x27index.html#i\x27]").length+" sort "+(up&&down?"ok":"wrong");
  document.body.prepend(p);
});
</script>'
    sed "s#</body>#$(printf '%s' "$probe" | tr '\n' ' ' | sed 's/[&#]/\\&/g')</body>#" "$page" > "$out/probed.html"
    flags="--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000"
    # shellcheck disable=SC2086
    timeout 120 chromium $flags --dump-dom "file://$out/probed.html" 2>/dev/null > "$out/dom.html" ||
        [ -s "$out/dom.html" ] || fail "chromium could not load the page"
    line=$(grep -o '<pre id="probe">[^<]*' "$out/dom.html" | sed 's/.*>//') || fail "the probe did not run"
    echo "check_report: $line"
    read -r _ rows_var _ rows _ sections _ sort <<< "$line"
    [ "$rows_var" = $((n_var + 1)) ] || fail "the variants table has $rows_var rows, not $n_var variants and bicubic"
    [ "$rows" = "$n_images" ] || fail "the images table has $rows rows, not $n_images"
    [ "$sections" = $((n_var * n_images)) ] || fail "$sections links to image sections, not $((n_var * n_images))"
    [ "$sort" = ok ] || fail "sorting did not order the rows"
    # shellcheck disable=SC2086
    timeout 120 chromium $flags --window-size=1400,900 --screenshot="$out/screenshot.png" "file://$page" >/dev/null 2>&1 || true
    [ "$(stat -c %s "$out/screenshot.png" 2>/dev/null || echo 0)" -gt 20000 ] || fail "no screenshot (or a blank one)"
    echo "check_report: comparison page ok ($n_var variants, $rows images, screenshot $out/screenshot.png)"
    for v in $variants; do
        bash "$0" --page "$exp/report/$v/index.html" "$exp/$v/eval.json" "$out/$v" || exit 1
    done
    exit 0
fi
given=
if [ "${1:-}" = --page ]; then
    [ $# -ge 3 ] || { echo "usage: tools/check_report.sh --page PAGE EVAL_JSON [OUTDIR]" >&2; exit 2; }
    given=$(realpath "$2") json=$3
    shift 3
fi
out=${1:-}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- samples
keep=1
if [ -z "$out" ]; then out=$(mktemp -d); keep=0; fi
mkdir -p "$out/report"
out=$(cd "$out" && pwd)  # the browser needs absolute file:// addresses
fail() { echo "check_report: FAIL: $*" >&2; echo "check_report: files kept in $out" >&2; exit 1; }

if [ -n "$given" ]; then
    page=$given
    [ -s "$page" ] || fail "no $page"
    # eval --json: a set's object is followed by its "images", an image's object ends
    n_sets=$(grep -o '"ssim": [^,}]*, "images"' "$json" | wc -l)
    n_images=$(grep -o '"ssim": [^,}]*}' "$json" | wc -l)
else
    build/attsr eval --html "$out/report" "$@" > "$out/eval.txt"
    page=$out/report/index.html
    [ -s "$page" ] || fail "no $page"
    n_images=$(grep -c "PSNR" "$out/eval.txt" | tr -d ' ')  # one line per image and per set mean
    n_sets=$(grep -c " mean " "$out/eval.txt" | tr -d ' ')
    n_images=$((n_images - n_sets))
fi

# The probe: appended to a copy, so the page under test is the one attsr wrote. After
# `load` (every image decoded or failed), it counts images with a size, the tables'
# rows, then clicks the images table's attsr-PSNR header (the columns end with bicubic's
# PSNR and SSIM, attsr's PSNR and SSIM, the gain) twice and reads the order. No `//`
# comments inside: the probe is put on one line.
probe='<script>
window.addEventListener("load",()=>{
  const imgs=[...document.images], ok=imgs.filter(i=>i.complete&&i.naturalWidth>0).length;
  const rows=id=>document.querySelector("#"+id).tBodies[0].rows.length;
  const t=document.querySelector("#images"), hs=[...t.tHead.rows[t.tHead.rows.length-1].cells];
  const col=hs.length-3;
  const vals=()=>[...t.tBodies[0].rows].map(r=>parseFloat(r.cells[col].dataset.v));
  const sorted=(a,s)=>a.every((x,i)=>i==0||s*(x-a[i-1])>=0);
  hs[col].click(); const up=sorted(vals(),1); hs[col].click(); const down=sorted(vals(),-1);
  const p=document.createElement("pre"); p.id="probe";
  p.textContent="images "+imgs.length+" decoded "+ok+" sets "+rows("sets")+" rows "+rows("images")+
    " col "+hs[col].textContent.trim().split(" ").join("_")+" sort "+(up&&down?"ok":"wrong");
  document.body.prepend(p);
});
</script>'
sed "s#</body>#$(printf '%s' "$probe" | tr '\n' ' ' | sed 's/[&#]/\\&/g')</body>#" "$page" > "$out/report/probed.html"

flags="--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000"
# shellcheck disable=SC2086
timeout 120 chromium $flags --dump-dom "file://$out/report/probed.html" 2>/dev/null > "$out/dom.html" ||
    [ -s "$out/dom.html" ] || fail "chromium could not load the page"
line=$(grep -o '<pre id="probe">[^<]*' "$out/dom.html" | sed 's/.*>//') || fail "the probe did not run"
echo "check_report: $line"
read -r _ n_img _ n_ok _ sets _ rows _ col _ sort <<< "$line"
[ "$n_img" -gt 0 ] && [ "$n_ok" = "$n_img" ] || fail "$n_ok of $n_img images decoded"
[ "$rows" = "$n_images" ] || fail "the images table has $rows rows, eval printed $n_images images"
[ "$sets" = "$n_sets" ] || fail "the sets table has $sets rows, eval printed $n_sets sets"
[ "$sort" = ok ] || fail "sorting by '$col' did not order the rows"
# shellcheck disable=SC2086
timeout 120 chromium $flags --window-size=1400,2400 --screenshot="$out/screenshot.png" \
    "file://$page" >/dev/null 2>&1 || true
[ "$(stat -c %s "$out/screenshot.png" 2>/dev/null || echo 0)" -gt 20000 ] || fail "no screenshot (or a blank one)"
echo "check_report: ok ($n_img images, $rows rows, screenshot $out/screenshot.png)"
[ "$keep" = 1 ] || rm -rf "$out"

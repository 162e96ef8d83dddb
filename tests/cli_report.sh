#!/usr/bin/env bash
# attsr eval --html: the page's content without a browser (tools/check_report.sh loads
# it in Chromium), its atomic write and the refused outputs.
source "$(dirname "$0")/lib_cli.sh"
plain=$("$ATTSR" eval samples 2>/dev/null)
with=$("$ATTSR" eval --html "$T/r" samples 2>/dev/null); rc=$?
p=$T/r/index.html
[ $rc -eq 0 ] && [ "$plain" = "$with" ] && t_pass scores_unchanged || t_fail scores_unchanged "status $rc"
rows=$(grep -c '^<tr><td>samples</td><td><a href="#i' "$p")
sections=$(grep -c '^<section class="image"' "$p")
uris=$(grep -o 'src="data:image/[a-z]*;base64,' "$p" | wc -l)
[ "$(head -c 15 "$p")" = "<!DOCTYPE html>" ] && tail -1 "$p" | grep -q '</body></html>' && [ "$rows" -eq 3 ] &&
    [ "$sections" -eq 3 ] && [ "$uris" -eq 21 ] && ! grep -q 'src="http\|href="http' "$p" &&
    t_pass page_content || t_fail page_content "$rows rows, $sections sections, $uris images"
# every crop decodes (attsr's own PNG reader) to 64 x 64: bicubic x2 of it is 128 x 128
grep -o 'class="px" width="192" height="192" alt="[^"]*" src="data:image/png;base64,[^"]*' "$p" |
    sed 's/.*base64,//' | head -3 > "$T/crops"
ok=0; i=0
while read -r b; do i=$((i+1)); echo "$b" | base64 -d > "$T/c$i.png" &&
    "$ATTSR" upscale --bicubic --scale 2 -i "$T/c$i.png" -o "$T/c$i.npy" 2>/dev/null &&
    head -c 128 "$T/c$i.npy" | grep -q "(128, 128, 3)" && ok=$((ok+1)); done < "$T/crops"
[ $ok -eq 3 ] && t_pass crops_decode || t_fail crops_decode "$ok of 3"
# atomic: a write that fails (file size limit) keeps the old page, leaves no temp file
echo old > "$p"
(trap '' XFSZ; ulimit -f 100; "$ATTSR" eval --html "$T/r" samples >/dev/null 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(cat "$p")" = old ] && [ "$(ls "$T/r")" = index.html ] && t_pass atomic_write ||
    t_fail atomic_write "status $rc: $(ls "$T/r")"
touch "$T/file"
expect_error html_is_file "" "$ATTSR" eval --html "$T/file" samples
expect_error html_is_input "" "$ATTSR" eval --html samples samples
expect_error html_bicubic "" "$ATTSR" eval --bicubic --scale 2 --html "$T/b" samples
if [ "$(id -u)" != 0 ]; then mkdir "$T/ro" && chmod 555 "$T/ro"
    expect_error html_unwritable "" "$ATTSR" eval --html "$T/ro/x" samples
else  # root writes anywhere but /proc: refused when the page is written, after the scores
    err=$("$ATTSR" eval --html /proc/attsr_report samples 2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] && [[ "$(tail -1 <<<"$err")" == "attsr eval: --html /proc/attsr_report: cannot create folder"* ]] &&
        t_pass html_unwritable || t_fail html_unwritable "status $rc: $err"; fi
exit 0

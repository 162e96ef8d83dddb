#!/usr/bin/env bash
# tools/experiment.sh (the paper's Table 2 at CPU scale) at a tiny size: the report has
# the seven variants' rows and the bicubic row; the HTML pages (the comparison, each
# variant's eval --html page) are written and their links lead to the right images
# (tools/check_report.sh --experiment checks them in Chromium); a second run skips all
# finished work, trains only a variant its folder lacks (a folder from before a variant
# was added), and makes a missing page again without a new evaluation; a
# run stopped with SIGTERM during training exits 130 and the next run resumes it and
# keeps the finished variants. Also attsr info, which the script uses.
source "$(dirname "$0")/lib_cli.sh"
mkdir -p "$T/data" "$T/val" "$T/b1" "$T/b2"
for f in butterfly comic zebra; do "$ATTSR" degrade --scale 2 -i samples/$f.png -o "$T/data/$f.png" >/dev/null; done
"$ATTSR" degrade --scale 3 -i samples/zebra.png -o "$T/val/zebra.png" >/dev/null
"$ATTSR" degrade --scale 3 -i samples/comic.png -o "$T/b1/comic.png" >/dev/null
"$ATTSR" degrade --scale 3 -i samples/butterfly.png -o "$T/b2/butterfly.png" >/dev/null
ARGS=(--out "$T/run" --data "$T/data" --val "$T/val" --bench "$T/b1" --bench "$T/b2" --doc "$T/doc/results.md"
      --png "$T/doc/curves.png" --feats 4 --groups 1 --blocks 1 --batch 2 --patch 12 --time-size 16 --time-runs 1
      --threads 1)
exp() { local steps=$1; shift; bash tools/experiment.sh --steps "$steps" "${ARGS[@]}" "$@"; }  # STEPS [more flags]
# the score table's rows: a variant, then PSNR/SSIM numbers
rows() { grep -cE '^\| (Base|\+CA|\+SA1|\+SA4|\+CA\+SA4|\+CA \(avg\+max\)|\+SA4, GradNorm off) \| [*0-9.]+ \| [*0-9.]+ \| [*0-9.]+ \|' "$T/doc/results.md"; }
RUNS=(base ca sa1 sa4 ca-sa4 ca-avgmax sa4-nogn)
state() { cat "$T"/run/*/log.jsonl "$T"/run/*/eval.json "$T"/run/*/info.json "$T"/run/bicubic.json | md5sum; }

exp 4 >"$T/a.out" 2>"$T/a.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(rows)" -eq 7 ] && grep -q '^| \*Bicubic\* |' "$T/doc/results.md" &&
   grep -q '| b1 PSNR | b1 SSIM | b2 PSNR | b2 SSIM |' "$T/doc/results.md" && grep -q '\*\*' "$T/doc/results.md"
then t_pass table_seven_variants; else t_fail table_seven_variants "status $rc, $(rows) rows: $(tail -2 "$T/a.err")"; fi
n=$(for r in "${RUNS[@]}"; do grep -c '"step":4,"loss"' "$T/run/$r/log.jsonl"; done | grep -c '^1$')
[ "$n" -eq 7 ] && t_pass seven_runs_trained || t_fail seven_runs_trained "$n of 7 runs reached step 4"
grep -q '"attention": "ca+sa4"' "$T/run/ca-sa4/info.json" && grep -q '"attention": "ca-avgmax"' "$T/run/ca-avgmax/info.json" &&
    t_pass new_variants_attention || t_fail new_variants_attention "$(cat "$T"/run/ca-*/info.json)"
if command -v gnuplot >/dev/null; then
    [ "$(head -c 4 "$T/doc/curves.png" | od -An -c | tr -d ' ')" = '211PNG' ] && grep -q '](curves.png)' "$T/doc/results.md" &&
        t_pass curves_png || t_fail curves_png "no PNG or no link to it"
else
    t_skip curves_png "gnuplot not installed"
fi

# the pages: the comparison (7 variants + bicubic; 2 images, each linked to its section
# in every variant's page) and each variant's page (2 sections, images embedded)
R=$T/run/report
page_ok() {  # FILE: a whole page, nothing fetched from elsewhere
    [ "$(head -c 15 "$1")" = "<!DOCTYPE html>" ] && tail -1 "$1" | grep -q '</body></html>' &&
        ! grep -q 'src="http\|href="http' "$1"
}
bad=
page_ok "$R/index.html" || bad="$bad comparison-page"
[ "$(grep -c '^<tr><td><a href="[a-z0-9-]*/index.html">' "$R/index.html")" -eq 7 ] &&
    grep -q '^<tr><td><i>bicubic</i></td>' "$R/index.html" || bad="$bad variant-rows"
[ "$(grep -c '^<tr><td>b[12]</td><td>[a-z]*</td>' "$R/index.html")" -eq 2 ] || bad="$bad image-rows"
for v in base ca sa1 sa4 ca-sa4 ca-avgmax sa4-nogn; do
    page_ok "$R/$v/index.html" && [ "$(grep -c '^<section class="image"' "$R/$v/index.html")" -eq 2 ] &&
        [ "$(grep -o 'src="data:image/[a-z]*;base64,' "$R/$v/index.html" | wc -l)" -eq 14 ] || bad="$bad $v-page"
    # each link of the comparison's images table names the section of that image
    for img in comic butterfly; do
        a=$(grep "^<tr><td>b[12]</td><td>$img</td>" "$R/index.html" | grep -o "href=\"$v/index.html#i[0-9]*\"" | sed 's/.*#//; s/"//')
        grep -A1 "^<section class=\"image\" id=\"$a\">" "$R/$v/index.html" | grep -q "^<h3>b[12] / $img " ||
            bad="$bad $v#$img"
    done
done
[ -z "$bad" ] && t_pass html_pages || t_fail html_pages "wrong:$bad"
grep -q "run/report/index.html\` (open it in a browser)" "$T/doc/results.md" && t_pass report_names_pages ||
    t_fail report_names_pages
if command -v chromium >/dev/null && [ "${ATTSR_CHROMIUM:-0}" = 1 ]; then  # slow: on request
    bash tools/check_report.sh --experiment "$T/run" "$T/chk" >"$T/chk.out" 2>&1 && t_pass pages_in_chromium ||
        t_fail pages_in_chromium "$(tail -3 "$T/chk.out")"
fi

# a second run: nothing trained, evaluated or measured again
before=$(state)
echo "notes kept" >> "$T/doc/results.md"
exp 4 >/dev/null 2>"$T/b.err"
rc=$?
skipped=$(grep -c 'skipped$' "$T/b.err")
if [ $rc -eq 0 ] && [ "$(state)" = "$before" ] && [ "$skipped" -eq 29 ] && ! grep -q 'training' "$T/b.err"
then t_pass rerun_skips_finished_work; else t_fail rerun_skips_finished_work "status $rc, $skipped skipped: $(cat "$T/b.err")"; fi
# a folder without one variant (made before it was added): that one alone trains
rm -rf "$T/run/ca-avgmax"
exp 4 >/dev/null 2>"$T/n.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c ': training' "$T/n.err")" -eq 1 ] && grep -q '^experiment: ca-avgmax: training' "$T/n.err" &&
   [ "$(grep -c 'skipped$' "$T/n.err")" -eq 25 ] && [ "$(rows)" -eq 7 ] && [ -s "$T/run/report/ca-avgmax/index.html" ]
then t_pass added_variant_trains_alone; else t_fail added_variant_trains_alone "status $rc: $(cat "$T/n.err")"; fi
[ "$(rows)" -eq 7 ] && grep -q '^notes kept$' "$T/doc/results.md" && t_pass report_keeps_text_outside_markers ||
    t_fail report_keeps_text_outside_markers "$(rows) rows"
# a page removed is made again from the same checkpoint, the scores kept
before=$(state)
mv "$R/sa1/index.html" "$T/sa1.html"
exp 4 >/dev/null 2>"$T/p.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(state)" = "$before" ] && grep -q '^experiment: sa1: HTML page of ' "$T/p.err" &&
   [ "$(grep -c 'HTML page of' "$T/p.err")" -eq 1 ] && page_ok "$R/sa1/index.html" &&
   [ "$(grep -c '^<section class="image"' "$R/sa1/index.html")" -eq 2 ]
then t_pass missing_page_remade; else t_fail missing_page_remade "status $rc: $(grep sa1 "$T/p.err")"; fi
# the CPU's name is cosmetic: an lscpu that fails (no /sys in a chroot) must not stop the report
mkdir -p "$T/bin" && printf '#!/bin/sh\necho "lscpu: cannot open /sys" >&2\nexit 1\n' > "$T/bin/lscpu" && chmod +x "$T/bin/lscpu"
PATH="$T/bin:$PATH" exp 4 >/dev/null 2>"$T/l.err"
rc=$?
[ $rc -eq 0 ] && [ "$(rows)" -eq 7 ] && grep -q 'training time .* on .*cores' "$T/doc/results.md" && t_pass report_without_lscpu ||
    t_fail report_without_lscpu "status $rc: $(tail -2 "$T/l.err")"

# more steps, stopped by SIGTERM once the second variant trains; the next run finishes
bash tools/experiment.sh --steps 60 "${ARGS[@]}" >/dev/null 2>"$T/c.err" &
pid=$!
for i in $(seq 1 600); do grep -q '^experiment: ca: training' "$T/c.err" && break; sleep 0.05; done
kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 130 ] && t_pass sigterm_stops_130 || t_fail sigterm_stops_130 "status $rc: $(tail -2 "$T/c.err")"
exp 60 >/dev/null 2>"$T/d.err"
rc=$?
n=$(for r in "${RUNS[@]}"; do grep -c '"loss"' "$T/run/$r/log.jsonl"; done | grep -c '^60$')
if [ $rc -eq 0 ] && [ "$n" -eq 7 ] && grep -q '^experiment: base: trained to step 60; skipped' "$T/d.err" &&
   grep -q 'resuming .* at step' "$T/run/ca/train.err" && grep -q 'resuming .* at step 4$' "$T/run/sa4/train.err" &&
   [ "$(rows)" -eq 7 ] && grep -q '60 training steps per variant' "$T/doc/results.md"
then t_pass resume_after_stop; else t_fail resume_after_stop "status $rc, $n runs with 60 steps: $(tail -3 "$T/d.err")"; fi

# other settings in the same folder are refused
exp 4 --feats 8 >/dev/null 2>"$T/e.err" && t_fail other_settings_refused "exit 0" ||
    { grep -q 'other settings' "$T/e.err" && t_pass other_settings_refused || t_fail other_settings_refused "$(cat "$T/e.err")"; }

# attsr info: parameters as init counts them, FLOPs, a timing
"$ATTSR" init --scale 2 --feats 8 --fe-groups 1 --groups 1 --blocks 1 --attention ca -o "$T/m.safetensors" >"$T/init.out"
out=$("$ATTSR" info -m "$T/m.safetensors" --size 16 --runs 3 --json)
p=$(sed 's/ parameters.*//; s/.*: //' "$T/init.out")
if [[ $out == *"\"parameters\": $p,"* ]] && [[ $out == *'"gflop": '* ]] && [[ $out == *'"median_ms": '* ]]
then t_pass info_json; else t_fail info_json "$out (init: $p)"; fi
"$ATTSR" info -m "$T/m.safetensors" | grep -q '^parameters [0-9]' && t_pass info_text || t_fail info_text
expect_error info_no_model "" "$ATTSR" info
expect_error info_bad_size "" "$ATTSR" info -m "$T/m.safetensors" --size 0
exit 0

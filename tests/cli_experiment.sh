#!/usr/bin/env bash
# tools/experiment.sh (the paper's Table 2 at CPU scale) at a tiny size: the report has
# the eight variants' rows and the bicubic row; the HTML pages (the comparison, each
# variant's eval --html page) are written and their links lead to the right images
# (tools/check_report.sh --experiment checks them in Chromium); a second run skips all
# finished work, trains only a variant its folder lacks (a folder from before a variant
# was added), and makes a missing page again without a new evaluation; a
# run stopped with SIGTERM during training exits 130 and the next run resumes it and
# keeps the finished variants. Seeds: a folder of the single-seed layout (OUT/NAME, also
# one stopped mid-migration) moves to OUT/NAME/seed1 and a second seed trains beside it;
# the GradNorm comparison (off, on, on with a warm-up) trains as it says; the report's
# means, standard deviations, bold and claims are checked on made-up scores. Also attsr
# info, which the script uses.
source "$(dirname "$0")/lib_cli.sh"
mkdir -p "$T/data" "$T/val" "$T/b1" "$T/b2"
for f in butterfly comic zebra; do "$ATTSR" degrade --scale 2 -i samples/$f.png -o "$T/data/$f.png" >/dev/null; done
"$ATTSR" degrade --scale 3 -i samples/zebra.png -o "$T/val/zebra.png" >/dev/null
"$ATTSR" degrade --scale 3 -i samples/comic.png -o "$T/b1/comic.png" >/dev/null
"$ATTSR" degrade --scale 3 -i samples/butterfly.png -o "$T/b2/butterfly.png" >/dev/null
ARGS=(--out "$T/run" --data "$T/data" --val "$T/val" --bench "$T/b1" --bench "$T/b2" --doc "$T/doc/results.md"
      --png "$T/doc/curves.png" --feats 4 --groups 1 --blocks 1 --batch 2 --patch 12 --time-size 16 --time-runs 1
      --threads 1 --seeds 1)
exp() { local steps=$1; shift; bash tools/experiment.sh --steps "$steps" "${ARGS[@]}" "$@"; }  # STEPS [more flags]
# the score table's rows: a variant, then PSNR/SSIM numbers
LABELS='Base|\+CA|\+SA1|\+SA4|\+CA\+SA4|\+CA \(avg\+max\)|\+SA4, GradNorm off|\+SA4, GradNorm warm-up'
rows() { grep -cE "^\| ($LABELS) \| [0-9]+ \| [*0-9.± ]+ \| [*0-9.± ]+ \| [*0-9.± ]+ \|" "${1:-$T/doc/results.md}"; }
RUNS=(base ca sa1 sa4 ca-sa4 ca-avgmax sa4-nogn sa4-gnwarm)
state() { cat "$T"/run/*/seed*/log.jsonl "$T"/run/*/seed*/eval.json "$T"/run/*/seed1/info.json "$T"/run/bicubic.json | md5sum; }

exp 4 >"$T/a.out" 2>"$T/a.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(rows)" -eq 8 ] && grep -q '^| \*Bicubic\* | |' "$T/doc/results.md" &&
   grep -q '| Seeds | b1 PSNR | b1 SSIM | b2 PSNR | b2 SSIM |' "$T/doc/results.md" &&
   grep -q 'All 8 runs (8 variants x 1 seeds) are complete' "$T/doc/results.md"
then t_pass table_eight_variants; else t_fail table_eight_variants "status $rc, $(rows) rows: $(tail -2 "$T/a.err")"; fi
# the GradNorm comparison on +SA4: off keeps w_S at 1, on moves it from the first step,
# the warm-up (K = 1 at 4 steps) keeps it at 1 for steps 0..1, then moves it
ws() { sed -n "s/.*\"step\":$2,\"loss\".*\"w_s\":\([0-9.e-]*\),.*/\1/p" "$T/run/$1/seed1/log.jsonl"; }
if [ "$(sed -n 's/.*"w_s":\([0-9.e-]*\),.*/\1/p' "$T/run/sa4-nogn/seed1/log.jsonl" | sort -u)" = 1 ] &&
   [ "$(ws sa4 1)" != 1 ] && [ "$(ws sa4-gnwarm 1)" = 1 ] && [ "$(ws sa4-gnwarm 2)" = 1 ] && [ "$(ws sa4-gnwarm 3)" != 1 ] &&
   grep -q 'GradNorm warm-up: `--gradnorm-warmup 1`' "$T/doc/results.md"
then t_pass gradnorm_comparison; else t_fail gradnorm_comparison "w_S: on $(ws sa4 1), warm-up $(ws sa4-gnwarm 1) $(ws sa4-gnwarm 2) $(ws sa4-gnwarm 3)"; fi
n=$(for r in "${RUNS[@]}"; do grep -c '"step":4,"loss"' "$T/run/$r/seed1/log.jsonl"; done | grep -c '^1$')
[ "$n" -eq 8 ] && t_pass eight_runs_trained || t_fail eight_runs_trained "$n of 8 runs reached step 4"
grep -q '"attention": "ca+sa4"' "$T/run/ca-sa4/seed1/info.json" && grep -q '"attention": "ca-avgmax"' "$T/run/ca-avgmax/seed1/info.json" &&
    t_pass new_variants_attention || t_fail new_variants_attention "$(cat "$T"/run/ca-*/seed1/info.json)"
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
[ "$(grep -c '^<tr><td><a href="[a-z0-9-]*/index.html">' "$R/index.html")" -eq 8 ] &&
    grep -q '^<tr><td><i>bicubic</i></td>' "$R/index.html" || bad="$bad variant-rows"
[ "$(grep -c '^<tr><td>b[12]</td><td>[a-z]*</td>' "$R/index.html")" -eq 2 ] || bad="$bad image-rows"
for v in base ca sa1 sa4 ca-sa4 ca-avgmax sa4-nogn sa4-gnwarm; do
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
if [ $rc -eq 0 ] && [ "$(state)" = "$before" ] && [ "$skipped" -eq 33 ] && ! grep -q 'training' "$T/b.err"
then t_pass rerun_skips_finished_work; else t_fail rerun_skips_finished_work "status $rc, $skipped skipped: $(cat "$T/b.err")"; fi
# a folder without one variant (made before it was added): that one alone trains
rm -rf "$T/run/ca-avgmax"
exp 4 >/dev/null 2>"$T/n.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c ': training' "$T/n.err")" -eq 1 ] && grep -q '^experiment: ca-avgmax/seed1: training' "$T/n.err" &&
   [ "$(grep -c 'skipped$' "$T/n.err")" -eq 29 ] && [ "$(rows)" -eq 8 ] && [ -s "$T/run/report/ca-avgmax/index.html" ]
then t_pass added_variant_trains_alone; else t_fail added_variant_trains_alone "status $rc: $(cat "$T/n.err")"; fi
[ "$(rows)" -eq 8 ] && grep -q '^notes kept$' "$T/doc/results.md" && t_pass report_keeps_text_outside_markers ||
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
# seeds: back to the single-seed layout (OUT/NAME holding the run), base as a migration
# stopped between its two renames; --seeds 2 moves them to NAME/seed1, keeps them, and
# trains seed 2 of every variant (later runs, with --seeds 1, leave seed 2 alone). The
# CPU's name is cosmetic: an lscpu that fails (no /sys in a chroot) must not stop the report.
for r in "${RUNS[@]}"; do mv "$T/run/$r" "$T/run/$r.old" && mv "$T/run/$r.old/seed1" "$T/run/$r" && rmdir "$T/run/$r.old"; done
mkdir "$T/run/.migrate-base" && mv "$T/run/base" "$T/run/.migrate-base/seed1"
before=$(cat "$T"/run/{.migrate-base/,}*/eval.json | md5sum)
mkdir -p "$T/bin" && printf '#!/bin/sh\necho "lscpu: cannot open /sys" >&2\nexit 1\n' > "$T/bin/lscpu" && chmod +x "$T/bin/lscpu"
PATH="$T/bin:$PATH" exp 4 --seeds 2 >/dev/null 2>"$T/s.err"
rc=$?
n=$(for r in "${RUNS[@]}"; do [ -f "$T/run/$r/seed1/trained" ] && grep -c '"step":4,"loss"' "$T/run/$r/seed2/log.jsonl"; done | grep -c '^1$')
if [ $rc -eq 0 ] && [ "$n" -eq 8 ] && [ "$(grep -c 'a single-seed folder; moved to .*/seed1$' "$T/s.err")" -eq 7 ] &&
   [ "$(grep -c 'seed1: trained to step 4; skipped$' "$T/s.err")" -eq 8 ] && [ "$(grep -c ': training' "$T/s.err")" -eq 8 ] &&
   [ "$(grep -c 'seed2: training' "$T/s.err")" -eq 8 ] && [ ! -e "$T/run/.migrate-base" ] &&
   [ "$(cat "$T"/run/*/seed1/eval.json | md5sum)" = "$before" ] &&
   ! cmp -s "$T/run/ca/seed1/log.jsonl" "$T/run/ca/seed2/log.jsonl" &&
   [ "$(grep -cE "^\| ($LABELS) \| 2 \| [0-9.]+ ± [0-9.]+ \|" "$T/doc/results.md")" -eq 8 ] &&
   grep -q '2 seeds (seeds 1..2)' "$T/doc/results.md" && grep -q '^- The paper: GradNorm improves training' "$T/doc/results.md"
then t_pass seeds_migrate_and_train; else t_fail seeds_migrate_and_train "status $rc, $n seed-2 runs: $(tail -3 "$T/s.err")"; fi
[ $rc -eq 0 ] && grep -q 'CPU-hours at 1 thread) on .*cores' "$T/doc/results.md" && t_pass report_without_lscpu ||
    t_fail report_without_lscpu "status $rc: $(tail -2 "$T/s.err")"

# more steps, stopped by SIGTERM once the second variant trains; the next run finishes
bash tools/experiment.sh --steps 60 "${ARGS[@]}" >/dev/null 2>"$T/c.err" &
pid=$!
for i in $(seq 1 600); do grep -q '^experiment: ca/seed1: training' "$T/c.err" && break; sleep 0.05; done
kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 130 ] && t_pass sigterm_stops_130 || t_fail sigterm_stops_130 "status $rc: $(tail -2 "$T/c.err")"
exp 60 >/dev/null 2>"$T/d.err"
rc=$?
n=$(for r in "${RUNS[@]}"; do grep -c '"loss"' "$T/run/$r/seed1/log.jsonl"; done | grep -c '^60$')
if [ $rc -eq 0 ] && [ "$n" -eq 8 ] && grep -q '^experiment: base/seed1: trained to step 60; skipped' "$T/d.err" &&
   grep -q 'resuming .* at step' "$T/run/ca/seed1/train.err" && grep -q 'resuming .* at step 4$' "$T/run/sa4/seed1/train.err" &&
   [ "$(rows)" -eq 8 ] && grep -q '60 training steps per variant and seed, 1 seed (seed 1)' "$T/doc/results.md"
then t_pass resume_after_stop; else t_fail resume_after_stop "status $rc, $n runs with 60 steps: $(tail -3 "$T/d.err")"; fi

# the warm-up's K stays the one its runs started with (1, at 4 steps), not 60 / 20
grep -q 'GradNorm warm-up: `--gradnorm-warmup 1` (weights 1 for steps$' "$T/doc/results.md" &&
    t_pass warmup_k_kept_on_resume || t_fail warmup_k_kept_on_resume "$(grep 'warm-up:' "$T/doc/results.md")"

# the report on made-up scores (--report-only trains nothing): Base leads b1 by 1 dB with
# standard deviations 0.14 (bold), but b2 by 0.2 dB with 0.71 (no bold); sa1/seed2 is
# not evaluated, so it is named as incomplete and +SA1 has one seed (seed 2 stopped at
# step 4: its runs count as trained to 60 here)
cp -r "$T/run" "$T/fake"
for r in "${RUNS[@]}"; do echo 60 > "$T/fake/$r/seed2/trained"; done
mkeval() { printf '{"scale": 2, "datasets": [{"name": "b1", "psnr": %s, "ssim": 0.5, "images": []}, {"name": "b2", "psnr": %s, "ssim": 0.5, "images": []}]}\n' "$2" "$3" > "$T/fake/$1/eval.json"; }
for r in "${RUNS[@]}"; do mkeval "$r/seed1" 29.0 30.2; mkeval "$r/seed2" 29.2 30.4; done
mkeval base/seed1 30.0 30.0; mkeval base/seed2 30.2 31.0
rm "$T/fake/sa1/seed2/eval.json"
exp 60 --seeds 2 --out "$T/fake" --doc "$T/fake.md" --png "$T/fake.png" --report-only >/dev/null 2>"$T/f.err"
rc=$?
if [ $rc -eq 0 ] && ! grep -q ': training' "$T/f.err" &&
   grep -qF '| Base | 2 | **30.10 ± 0.14** | 0.5000 ± 0.0000 | 30.50 ± 0.71 | 0.5000 ± 0.0000 |' "$T/fake.md" &&
   grep -qF '| +CA | 2 | 29.10 ± 0.14 | 0.5000 ± 0.0000 | 30.30 ± 0.14 |' "$T/fake.md" &&
   grep -qF '| +SA1 | 1 | 29.00 | 0.5000 | 30.20 | 0.5000 |' "$T/fake.md" &&
   [ "$(grep -c '| \*\*[0-9]' "$T/fake.md")" -eq 1 ] &&
   grep -q 'Complete: 15 of 16 runs.\*\*' "$T/fake.md" && grep -q '^below: sa1/seed2\.$' "$T/fake.md" &&
   grep -qF '(+CA over Base). PSNR difference: b1 -1.00 (sd 0.14), b2 -0.20 (sd 0.71) dB; contradicted on b1; within the spread on b2.' "$T/fake.md" &&
   grep -qF '(+SA4 over +SA1). PSNR difference: b1 +0.10, b2 +0.10 dB; one seed only' "$T/fake.md"
then t_pass report_mean_sd_bold_claims; else t_fail report_mean_sd_bold_claims "status $rc: $(grep -E '^\| (Base|\+CA|\+SA1) \||Complete|over Base\)' "$T/fake.md"; tail -2 "$T/f.err")"; fi

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

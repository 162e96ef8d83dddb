#!/usr/bin/env bash
# Killed at any moment, a command leaves each file it writes either as it was (absent,
# or the old file) or complete, never torn: `attsr upscale` writing over older outputs
# (PNG, JPEG, --structure/--texture) and `attsr train` writing SATV cache entries are
# killed with SIGKILL at random delays, many times, and every destination is compared
# byte for byte with the old file and with the output of an uninterrupted run. Cache
# entries must also be used by the next run (only missing ones are decomposed again).
# The temp files that kills leave behind must not disturb later runs; the cache's are
# removed once stale.
# Inputs are generated from samples/, so this runs everywhere. Iterations: KILL_ITERS
# (default 16 per upscale variant) and KILL_CITERS (24, the cache); seed: KILL_SEED.
source "$(dirname "$0")/lib_cli.sh"
ITERS=${KILL_ITERS:-16}
CITERS=${KILL_CITERS:-24}
seed=${KILL_SEED:-$$}
RANDOM=$seed
X2=fuzz/data/x2.safetensors  # a tiny committed model

now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
# run_killed US CMD...: runs CMD in the background, SIGKILLs it after a random delay in
# [0, 1.1 US] microseconds (US: the length of an uninterrupted run), waits for it.
# Sets $killed to 1 when the kill found it still running.
run_killed() {
    local us=$1; shift
    local d=$(( us * ((RANDOM << 15 | RANDOM) % 1100) / 1000 ))
    "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
    killed=0
    kill -9 $pid 2>/dev/null && killed=1
    wait $pid 2>/dev/null
}
# run_killed_at_write DIR N US CMD...: runs CMD in the background and watches DIR with a
# busy loop of shell builtins: when N more names are in it than at the start, the N-th
# write has just begun (its temp file, or the file itself if written in place), and CMD
# is SIGKILLed at once; gives up after 3 US microseconds. Sets $killed like run_killed.
run_killed_at_write() {
    local dir=$1 n=$2 us=$3; shift 3
    shopt -s nullglob
    local f=("$dir"/*)
    local want=$((${#f[@]} + n)) t=${EPOCHREALTIME/./}
    local deadline=$((t + 3 * us))
    "$@" >/dev/null 2>&1 &
    local pid=$!
    while f=("$dir"/*); [ ${#f[@]} -lt $want ]; do
        t=${EPOCHREALTIME/./}
        [ $t -lt $deadline ] || break
    done
    shopt -u nullglob
    killed=0
    kill -9 $pid 2>/dev/null && killed=1
    wait $pid 2>/dev/null
}
# timed US_VAR CMD...: runs CMD, stores its wall time in microseconds in US_VAR.
timed() {
    local var=$1; shift
    local t0; t0=$(now_us)
    "$@" >/dev/null 2>&1 || return 1
    printf -v "$var" '%d' $(( $(now_us) - t0 ))
}

# ---- attsr upscale over older outputs -------------------------------------------------
mkdir -p "$T/in" "$T/old" "$T/new" "$T/u"
"$ATTSR" upscale --bicubic --scale 2 -i samples/butterfly.png -o "$T/in/new.png" &&
"$ATTSR" upscale --bicubic --scale 2 -i samples/comic.png -o "$T/in/old.png" || { t_fail kill_inputs; exit 0; }
# variant A: a model, three outputs (PNG, JPEG, PNG); variant B: bicubic x4 to one large PNG
# (functions that set CMD, so that the kill reaches attsr itself, not a subshell)
upA() { CMD=("$ATTSR" upscale -m $X2 -i "$1" -o "$2/a.png" --structure "$2/s.jpg" --texture "$2/t.png" --threads 1); }
upB() { CMD=("$ATTSR" upscale --bicubic --scale 4 -i "$1" -o "$2/b.png" --threads 1); }
run() { "$1" "$2" "$3" && "${CMD[@]}"; }
run upA "$T/in/old.png" "$T/old" 2>/dev/null && run upB "$T/in/old.png" "$T/old" 2>/dev/null &&
run upA "$T/in/new.png" "$T/new" 2>/dev/null && timed usA run upA "$T/in/new.png" "$T/new" &&
run upB "$T/in/new.png" "$T/new" 2>/dev/null && timed usB run upB "$T/in/new.png" "$T/new" ||
    { t_fail kill_reference_runs "upscale failed"; exit 0; }

bad=0 kills=0
declare -A state=([old]=0 [new]=0 [absent]=0)
for i in $(seq 1 "$ITERS"); do
    for v in A B; do
        files="a.png s.jpg t.png"; us=$usA
        [ $v = B ] && { files=b.png; us=$usB; }
        for f in $files; do
            rm -f "$T/u/$f"
            [ $((i % 3)) -eq 0 ] || cp "$T/old/$f" "$T/u/$f"  # every third run: no old file
        done
        up$v "$T/in/new.png" "$T/u"
        run_killed "$us" "${CMD[@]}"
        kills=$((kills + killed))
        for f in $files; do
            if [ ! -e "$T/u/$f" ]; then
                [ $((i % 3)) -eq 0 ] && st=absent || st=lost
            elif cmp -s "$T/u/$f" "$T/new/$f"; then st=new
            elif cmp -s "$T/u/$f" "$T/old/$f"; then st=old
            else st=torn; fi
            case $st in
            lost | torn)
                bad=$((bad + 1))
                [ $bad -le 3 ] && t_fail "upscale_killed_output_intact" \
                    "$f $st after a kill (run $i$v, $(stat -c %s "$T/u/$f" 2>/dev/null || echo no) bytes; KILL_SEED=$seed)" ;;
            *) state[$st]=$((state[$st] + 1)) ;;
            esac
        done
    done
done
if [ $bad -eq 0 ]; then t_pass "upscale_killed_output_intact ($((2 * ITERS)) runs, $kills killed while running;\
 outputs old ${state[old]}, new ${state[new]}, absent ${state[absent]})"
else t_fail upscale_killed_output_intact "in all, $bad torn or lost outputs after $((2 * ITERS)) runs"; fi
# the temp files that kills left: at most one per output and kill, never taken for images
ntmp=$(ls "$T/u" | grep -c '\.tmp-')
if [ "$ntmp" -le $((4 * kills)) ] && [ "$(ls "$T/u" | grep -vc '\.tmp-')" -le 4 ]; then t_pass "upscale_temp_files_bounded ($ntmp left)"
else t_fail upscale_temp_files_bounded "$ntmp temp files after $kills kills: $(ls "$T/u" | head)"; fi
cp "$T/new/a.png" "$T/u/a.png"
if run upA "$T/in/new.png" "$T/u" 2>/dev/null && cmp -s "$T/u/a.png" "$T/new/a.png" &&
   "$ATTSR" upscale --bicubic --scale 2 -i "$T/u" -o "$T/u2" 2>"$T/u2.err" &&
   [ "$(ls "$T/u2" | sort | tr '\n' ' ')" = "$(ls "$T/u" | grep -v '\.tmp-' | sort | tr '\n' ' ')" ]
then t_pass upscale_after_kills_works
else t_fail upscale_after_kills_works "$(head -2 "$T/u2.err"; ls "$T/u2" 2>&1 | head -5)"; fi

# ---- attsr train writing SATV cache entries ---------------------------------------------
# Two textured images, and four flat ones: SATV stops after two iterations on a flat
# image, so writing its entry (3 MB) is a large part of the run and many kills land in it.
mkdir -p "$T/d"
for f in butterfly zebra; do cp samples/$f.png "$T/d/"; done
flat_npy() {  # flat_npy FILE BYTES: a 128 x 128 RGB .npy whose every float is BYTES (4, little-endian)
    local hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (128, 128, 3), }"
    { printf '\x93NUMPY\x01\x00\x76\x00%-117s\n' "$hdr"; printf "$2%.0s" $(seq 1 49152); } >"$1"
}
k=0
for v in '\x00\x00\x80\x3e' '\x00\x00\x00\x3f' '\x00\x00\x40\x3f' '\x00\x00\xc0\x3e'; do
    k=$((k + 1))
    flat_npy "$T/flat.npy" "$v"
    "$ATTSR" upscale --bicubic --scale 4 -i "$T/flat.npy" -o "$T/d/flat$k.png" 2>/dev/null || t_fail kill_flat_input
done
nimg=6
trC() {  # trC CACHE: sets CMD to a one-step run on $T/d, which first builds/reads the cache
    CMD=("$ATTSR" train -d "$T/d" -o "$T/r" --cache "$1" --scale 2 --feats 4 --fe-groups 0 --groups 1 --blocks 1
         --attention none --batch 1 --patch 8 --steps 1 --val "" --threads 1 --seed 1)
}
tr_run() { trC "$1" && "${CMD[@]}"; }
if ! tr_run "$T/cref" 2>"$T/tr.err" || [ "$(ls "$T/cref" | grep -c '\.satv$')" -ne $nimg ]; then
    t_fail kill_reference_cache "$(tail -2 "$T/tr.err")"; exit 0
fi
rm -rf "$T/cref2"
timed usC tr_run "$T/cref2"
bad=0 kills=0 partial=0
for i in $(seq 1 "$CITERS"); do
    mkdir -p "$T/c"
    rm -f "$T/c/"*.satv
    [ $((i % 2)) -eq 0 ] && cp "$T/cref/"$(ls "$T/cref" | head -1) "$T/c/"  # some entries already there
    trC "$T/c"
    # half the runs are killed at a random moment, half as an entry's write begins
    if [ $((i % 4)) -lt 2 ]; then run_killed "$usC" "${CMD[@]}"
    else run_killed_at_write "$T/c" $((1 + RANDOM % 5)) "$usC" "${CMD[@]}"; fi
    kills=$((kills + killed))
    present=0 torn=
    for f in "$T/c/"*.satv; do
        [ -e "$f" ] || continue
        present=$((present + 1))
        cmp -s "$f" "$T/cref/${f##*/}" || torn="$torn ${f##*/} ($(stat -c %s "$f") bytes)"
    done
    [ $present -gt 0 ] && [ $present -lt $nimg ] && partial=$((partial + 1))
    # the next run reads every entry there and decomposes only the missing ones
    tr_run "$T/c" 2>"$T/tr.err"
    rc=$?
    want="$((nimg - present)) decomposed now, $present from the cache"
    if [ -n "$torn" ] || [ $rc -ne 0 ] || ! grep -q "$want" "$T/tr.err"; then
        bad=$((bad + 1))
        [ $bad -le 3 ] && t_fail cache_killed_entries_intact \
            "run $i: torn:${torn:- none}; next run (status $rc): $(grep dataset: "$T/tr.err" || tail -1 "$T/tr.err"), want '$want' (KILL_SEED=$seed)"
    fi
done
if [ $bad -eq 0 ]; then t_pass "cache_killed_entries_intact ($CITERS runs, $kills killed while running, $partial left a partial cache)"
else t_fail cache_killed_entries_intact "in all, $bad of $CITERS runs left a torn entry or a cache the next run did not use"; fi
# stale temp files of killed writers: harmless, and removed by a later run once an hour old
ntmp=$(ls "$T/c" | grep -c '\.tmp-')
find "$T/c" -name '*.tmp-*' -exec touch -d '2 hours ago' {} +
for k in 1 2; do : >"$T/c/0123456789abcdef.satv.tmp-fresh$k"; done  # a live writer's: kept
tr_run "$T/c" 2>/dev/null
left=$(ls "$T/c" | grep '\.tmp-' | tr '\n' ' ')
if [ "$left" = "0123456789abcdef.satv.tmp-fresh1 0123456789abcdef.satv.tmp-fresh2 " ]; then
    t_pass "cache_stale_temps_removed ($ntmp left by $kills kills)"
else t_fail cache_stale_temps_removed "after the cleanup run: $left"; fi
exit 0

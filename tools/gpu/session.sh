#!/usr/bin/env bash
# The one command of a GPU lease (tools/gpu/README.md): trains the bundled models' long
# runs (models/state/xS.args, resumed from models/state/xS.checkpoint.safetensors when
# there is one) with tools/gpu/train_torch.py, all scales side by side on the one GPU,
# for MINUTES minutes, then leaves in $OUT what the device tool brings back:
#   xS.checkpoint.safetensors   attsr's checkpoint, one per scale (resume with attsr train)
#   logs.tar.gz                 xS/log.jsonl, xS/args (the attsr train flags of the run)
#   models.tar                  xS/model.safetensors (the moving average), xS/best.safetensors
#   session.log                 this script's output
# 6 files, well inside the tool's 8 files of 16 MiB (checked at the end).
#
#   bash tools/gpu/session.sh MINUTES [SCALE...]      (scales: 2 3 4 by default)
#
# Environment: OUT (default runs/gpu-out, for a dry run here), GPU_PACK (runs/gpu-pack,
# made by tools/gpu/pack.sh), GPU_ARGS (attsr train flags appended to every scale's
# args, e.g. "--batch 32"; they go into xS/args too), GPU_FLAGS (train_torch.py's own
# flags, e.g. "--bf16"), PYTHON (python3).
# Each trainer stops itself, saved, MINUTES after its start; a guard sends SIGINT a
# minute later and kills 20 s after that. The whole command takes MINUTES plus about
# half a minute (start-up and packing); MINUTES is at most 8 for the tool's 600 s.
set -uo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:?usage: session.sh MINUTES [SCALE...]}
shift
# the device tool's 600 s a command: the trainers' MINUTES, the guard's minute and 20 s,
# and the packing must fit, or nothing but the log comes back
if ! [[ $minutes =~ ^[0-9]+$ ]] || [ $((minutes * 60 + 90)) -gt "${SESSION_LIMIT_S:-600}" ]; then
    echo "session: MINUTES must be a whole number of at most $(( (${SESSION_LIMIT_S:-600} - 90) / 60 ))" >&2
    exit 2
fi
scales=${*:-2 3 4}
out=${OUT:-runs/gpu-out}
pack=${GPU_PACK:-runs/gpu-pack}
py=${PYTHON:-python3}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/attsr-gpu.XXXXXX")

main() {
    echo "== session: $(date -u +%FT%TZ), $minutes minutes, scales $scales, $(nproc) cores"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$py" -c 'import torch, PIL, numpy
from PIL import features
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "(CPU fallback)")
print("numpy", numpy.__version__, "pillow", PIL.__version__, "webp", features.check("webp"))' || return 1
    [ -f "$pack/MANIFEST" ] || { echo "session: no $pack/MANIFEST (run tools/gpu/pack.sh and carry $pack)"; return 1; }
    grep -v '^#' "$pack/MANIFEST" | head -4 | tr '\n' ' '; echo
    local pids=() s
    for s in $scales; do
        local state=models/state/x$s run=$work/x$s
        [ -f "$state.args" ] || { echo "session: no $state.args"; return 1; }
        mkdir -p "$run"
        if [ -f "$state.checkpoint.safetensors" ]; then
            cp "$state.checkpoint.safetensors" "$run/checkpoint.safetensors"
            [ -f "$state.log.jsonl" ] && cp "$state.log.jsonl" "$run/log.jsonl"
        fi
        echo "$(cat "$state.args") ${GPU_ARGS:-}" > "$run/args"
        read -r -a args < "$run/args"
        # shellcheck disable=SC2086  # GPU_FLAGS: words
        timeout -k 20 -s INT $((minutes * 60 + 60)) "$py" -u tools/gpu/train_torch.py "${args[@]}" -o "$run" \
            --resume --pack "$pack" --minutes "$minutes" --tag "x$s" ${GPU_FLAGS:-} &
        pids+=($!)
    done
    mirror >/dev/null 2>&1 &
    local mpid=$! rc=0 i=0
    for s in $scales; do
        wait "${pids[$i]}"
        local r=$?
        echo "session: x$s exited with status $r"
        [ $r -eq 0 ] || [ $r -eq 130 ] || rc=1
        i=$((i + 1))
    done
    kill "$mpid" 2>/dev/null
    wait "$mpid" 2>/dev/null
    collect || rc=1
    return $rc
}

# Every 20 s while the trainers run, their last checkpoints and logs into $OUT (the
# same names as the end's): should the command be killed at the tool's limit before
# collect, they still come back. The trainers rename their files into place, so a
# copy reads a whole one.
mirror() {
    local s
    while sleep 20; do
        for s in $scales; do
            [ -f "$work/x$s/checkpoint.safetensors" ] || continue
            cp "$work/x$s/checkpoint.safetensors" "$out/x$s.checkpoint.safetensors.tmp" &&
                mv "$out/x$s.checkpoint.safetensors.tmp" "$out/x$s.checkpoint.safetensors"
        done
        logs_tar
    done
}

logs_tar() {
    local s f logs=()
    for s in $scales; do
        for f in log.jsonl args; do [ -f "$work/x$s/$f" ] && logs+=("x$s/$f"); done
    done
    [ ${#logs[@]} -gt 0 ] && tar -czf "$out/logs.tar.gz.tmp" -C "$work" "${logs[@]}" &&
        mv "$out/logs.tar.gz.tmp" "$out/logs.tar.gz"
}

# $OUT: one checkpoint per scale, the logs and args (gzip), the model files (tar).
collect() {
    local s f models=()
    rm -f "$out"/*.tmp
    for s in $scales; do
        local run=$work/x$s
        [ -f "$run/checkpoint.safetensors" ] && cp "$run/checkpoint.safetensors" "$out/x$s.checkpoint.safetensors"
        for f in model.safetensors best.safetensors; do [ -f "$run/$f" ] && models+=("x$s/$f"); done
        if [ -f "$run/log.jsonl" ]; then
            echo "session: x$s $(grep '"loss"' "$run/log.jsonl" | tail -1 | cut -c1-60)... " \
                "$(grep val_psnr "$run/log.jsonl" | tail -1)"
        fi
    done
    logs_tar
    [ ${#models[@]} -gt 0 ] && tar -cf "$out/models.tar" -C "$work" "${models[@]}"
    check_out
}

# The device tool's limits on what comes back: 8 files, 16 MiB each, 64 MiB in all, at
# most two folders down, names of letters, digits, '.', '_' and '-'.
check_out() {
    local n total=0 bad=0 f sz
    n=$(find "$out" -type f | wc -l)
    while IFS= read -r -d '' f; do
        sz=$(stat -c %s "$f")
        total=$((total + sz))
        if [ "$sz" -gt $((16 << 20)) ]; then echo "session: $f is over 16 MiB"; bad=1; fi
        if [[ ! $(basename "$f") =~ ^[A-Za-z0-9._-]+$ ]]; then echo "session: $f has an odd name"; bad=1; fi
    done < <(find "$out" -type f -print0)
    [ "$n" -le 8 ] || { echo "session: $n files in OUT, more than 8"; bad=1; }
    [ $total -le $((64 << 20)) ] || { echo "session: $total bytes in OUT, more than 64 MiB"; bad=1; }
    # session.log is still being written: counted as one file here
    [ -f "$out/session.log" ] || n=$((n + 1))
    echo "session: OUT holds $n files, $((total >> 20)) MiB$([ $bad = 0 ] && echo ', within the limits')"
    return $bad
}

main 2>&1 | tee "$out/session.log"
rc=${PIPESTATUS[0]}
rm -rf "$work"
exit "$rc"

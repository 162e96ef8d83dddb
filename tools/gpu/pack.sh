#!/usr/bin/env bash
# Packs the training images (T91, BSD200) and the validation set (Set5) into
# runs/gpu-pack/ (ignored by git), for a GPU lease's `carry`: ../shared does not travel.
# Lossless WebP (cwebp -lossless -z 6, about 2/3 of the PNGs' size), every file checked
# against its PNG pixel for pixel after encoding (Pillow).
#
#   bash tools/gpu/pack.sh [--fit]
#
# What travels is the working tree (tracked and untracked-not-ignored files) plus the
# carried folder, 64 MiB at most; this refuses a pack that would take the total past
# $GPU_TRAVEL_LIMIT_MIB (default 62, a margin under 64), and says how many BSD200
# images would have to go. --fit leaves out that many (the last ones by name; listed in
# runs/gpu-pack/MANIFEST) rather than refusing. Re-running re-encodes only new images.
# Needs cwebp (Debian's webp) and Debian's python3 with numpy and PIL ($PYTHON: another).
set -euo pipefail
cd "$(dirname "$0")/../.."
fit=0
[ "${1:-}" = --fit ] && fit=1
shared=${ATTSR_SHARED:-../shared}/data
pack=runs/gpu-pack
limit=$(( ${GPU_TRAVEL_LIMIT_MIB:-62} * 1024 * 1024 ))
command -v cwebp >/dev/null || { echo "pack: cwebp missing (apt-get install webp)" >&2; exit 1; }
for d in train/T91 train/BSD200 benchmark/Set5/HR; do
    [ -d "$shared/$d" ] || { echo "pack: $shared/$d missing" >&2; exit 1; }
done
git check-ignore -q "$pack" || { echo "pack: $pack is not ignored by git" >&2; exit 1; }

encode() {  # SRC_DIR DST_DIR: every PNG, unless its WebP is already newer
    mkdir -p "$2"
    local f out
    for f in "$1"/*.png; do
        out=$2/$(basename "${f%.png}").webp
        [ "$out" -nt "$f" ] && continue
        cwebp -quiet -lossless -z 6 -exact -metadata none "$f" -o "$out.tmp"
        mv "$out.tmp" "$out"
    done
}
encode "$shared/train/T91" "$pack/T91"
encode "$shared/train/BSD200" "$pack/BSD200"
encode "$shared/benchmark/Set5/HR" "$pack/Set5"

# pixel for pixel against the PNGs (and nothing in the pack without its PNG)
"${PYTHON:-/usr/bin/python3}" - "$shared" "$pack" <<'EOF'
import os, sys
import numpy as np
from PIL import Image
shared, pack = sys.argv[1:]
src = {"T91": "train/T91", "BSD200": "train/BSD200", "Set5": "benchmark/Set5/HR"}
n = 0
for sub, rel in src.items():
    for name in sorted(os.listdir(os.path.join(pack, sub))):
        if not name.endswith(".webp"):
            continue
        png = os.path.join(shared, rel, name[:-5] + ".png")
        a = np.asarray(Image.open(os.path.join(pack, sub, name)).convert("RGB"))
        b = np.asarray(Image.open(png).convert("RGB")) if os.path.exists(png) else None
        if b is None or a.shape != b.shape or not np.array_equal(a, b):
            sys.exit(f"pack: {sub}/{name} differs from {png}")
        n += 1
print(f"pack: {n} images checked against their PNGs, identical")
EOF

# the travelling tree: what git would copy, less the pack itself
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
size() { du -cb "$@" 2>/dev/null | tail -1 | cut -f1; }
rm -f "$pack/MANIFEST"
mapfile -t bsd < <(ls "$pack/BSD200"/*.webp | sort)
total=$(( tree + $(size "$pack") ))
drop=0
while [ $total -gt $limit ] && [ $drop -lt ${#bsd[@]} ]; do
    drop=$((drop + 1))
    total=$(( total - $(size "${bsd[${#bsd[@]} - drop]}") ))
done
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
if [ $total -gt $limit ]; then
    echo "pack: the tree ($(mib "$tree")) and T91 + Set5 alone pass $(mib $limit)" >&2
    exit 1
fi
if [ $drop -gt 0 ] && [ $fit = 0 ]; then
    echo "pack: tree $(mib "$tree") + pack $(mib "$(size "$pack")") passes $(mib $limit);" \
        "$drop of ${#bsd[@]} BSD200 images would have to go (bash tools/gpu/pack.sh --fit)" >&2
    exit 1
fi
{
    echo "# attsr GPU pack: lossless WebP of ../shared's PNGs (tools/gpu/pack.sh)"
    echo "T91 $(ls "$pack/T91" | grep -c '\.webp$')"
    echo "BSD200 $(( ${#bsd[@]} - drop )) of ${#bsd[@]}"
    echo "Set5 $(ls "$pack/Set5" | grep -c '\.webp$')"
    for ((i = 0; i < drop; i++)); do echo "left out: BSD200/$(basename "${bsd[${#bsd[@]} - 1 - i]}")"; done
} > "$pack/MANIFEST"
for ((i = 0; i < drop; i++)); do rm -f "${bsd[${#bsd[@]} - 1 - i]}"; done  # a later run re-encodes them
cat "$pack/MANIFEST"
echo "pack: $pack $(mib "$(size "$pack")"), tree $(mib "$tree"), together $(mib $total) of $(mib $limit)"

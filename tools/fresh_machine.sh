#!/usr/bin/env bash
# The README's two commands on a bare Debian 12, as a newcomer runs them: a
# `debootstrap --variant=minbase bookworm` root (no procps, git or python; no /sys), a
# clone of this repository's committed HEAD at /work/attsr in it, and, as root in a
# chroot, `bash scripts/quickstart.sh` then `bash scripts/test.sh` exactly as written.
# Once without ../shared (a user's download), once with SHARED bind-mounted read-only
# at /work/shared beside the clone. Prints each case's quickstart table and the suite's
# closing line; exits 0 only if every case's suite ends with 0 failed.
#
#   bash tools/fresh_machine.sh [noshared|shared|both]    (both; as root, needs debootstrap)
#
# FRESH_DIR  work folder (/var/tmp/attsr-fresh): the debootstrap base, made once and
#            reused (remove FRESH_DIR/base to refresh it), a root and a log per case
# MIRROR     Debian mirror (the first .../debian URI in this machine's apt sources)
# SHARED     the data folder (../shared beside this repository)
# PROC       1: mount /proc in the chroot (the default); 0: do not. The suite needs it:
#            bash's <(...) opens /dev/fd, a link into /proc/self, and LeakSanitizer
#            (the ASan build) reads /proc/PID/task. /sys, /dev/pts and /run are never
#            mounted, so lscpu and hwloc find no CPU topology, as in a container.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
what=${1:-both}
case "$what" in noshared) cases=(noshared) ;; shared) cases=(shared) ;; both) cases=(noshared shared) ;;
    *) echo "usage: tools/fresh_machine.sh [noshared|shared|both]" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "fresh_machine: run as root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh_machine: debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }
FRESH_DIR=${FRESH_DIR:-/var/tmp/attsr-fresh}
SHARED=${SHARED:-$repo/../shared}
PROC=${PROC:-1}
host_mirror() { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -nE 's#^(deb|URIs:)[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]*/debian)/?([[:space:]].*)?$#\3#p' | head -1; }
MIRROR=${MIRROR:-$(host_mirror || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
head=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "fresh_machine: uncommitted changes are not tested (HEAD $head is)" >&2
mkdir -p "$FRESH_DIR"

if [ ! -d "$FRESH_DIR/base" ]; then
    echo "fresh_machine: debootstrap --variant=minbase bookworm from $MIRROR" >&2
    rm -rf "$FRESH_DIR/base.tmp"
    debootstrap --variant=minbase bookworm "$FRESH_DIR/base.tmp" "$MIRROR" >"$FRESH_DIR/debootstrap.log" 2>&1 ||
        { echo "fresh_machine: debootstrap failed: $(tail -1 "$FRESH_DIR/debootstrap.log")" >&2; exit 1; }
    mv "$FRESH_DIR/base.tmp" "$FRESH_DIR/base"
fi

mounts=()
cleanup() { local i; for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}"; done; mounts=(); }
trap cleanup EXIT
trap "exit 130" INT TERM  # so that EXIT unmounts
status=0
for c in "${cases[@]}"; do
    root=$FRESH_DIR/root-$c log=$FRESH_DIR/$c.log
    rm -rf "$root"
    cp -a "$FRESH_DIR/base" "$root"
    cp /etc/resolv.conf "$root/etc/resolv.conf"  # apt-get inside reaches the mirror
    mkdir -p "$root/work"
    git clone -q --no-hardlinks "$repo" "$root/work/attsr"
    git -C "$root/work/attsr" checkout -q --detach "$head"
    if [ "$c" = shared ]; then
        [ -d "$SHARED/data" ] || { echo "fresh_machine: no $SHARED/data for the shared case" >&2; status=1; continue; }
        mkdir -p "$root/work/shared"
        mount --bind -o ro "$SHARED" "$root/work/shared" && mounts+=("$root/work/shared")
    fi
    [ "$PROC" = 0 ] || { mount -t proc proc "$root/proc" && mounts+=("$root/proc"); }
    echo "fresh_machine: $c: commit ${head:0:7}, /proc $([ "$PROC" = 0 ] && echo absent || echo mounted), no /sys; log $log" >&2
    start=$(date +%s)
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c 'cd /work/attsr && { bash scripts/quickstart.sh; echo "quickstart.sh: status $?"; } &&
                      { bash scripts/test.sh; echo "test.sh: status $?"; }' >"$log" 2>&1 || true
    cleanup
    secs=$(($(date +%s) - start))
    echo "== $c ($(date -u +%F), commit ${head:0:7}, $((secs / 60)) min $((secs % 60)) s)"
    sed -n '/^samples\/ (/,/^x4 /p' "$log"
    grep '^quickstart.sh: status' "$log" || echo "quickstart.sh: no status (see $log)"
    closing=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1 || true)
    echo "${closing:-test.sh: no closing line (see $log)}"
    grep '^FAIL ' "$log" | sort -u || true
    [[ "$closing" == *" passed, 0 failed, "* ]] && grep -q '^test.sh: status 0$' "$log" || status=1
done
exit $status

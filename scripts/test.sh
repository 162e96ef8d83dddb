#!/usr/bin/env bash
# The README's second command: install what is missing, build, and run the whole test
# suite three times — the optimised build, a build under AddressSanitizer and
# UndefinedBehaviorSanitizer (both with MPI, for data-parallel training), and the
# optimised build without MPI, which must keep working as before (on an AVX-512 CPU built
# for AVX2, x86-64-v3, so that the 8-lane Winograd transforms are tested too). Ends with
# "N passed, N failed, N skipped". Tests that need ../shared (benchmark and training
# images) are skipped when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j"$(nproc)" MPI=1 all
make -j"$(nproc)" MPI=1 BUILD=build-asan OPT="-O1 -march=native" \
    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
nompi_opt="-O3 -march=native"
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then nompi_opt="-O3 -march=x86-64-v3"; fi
make -j"$(nproc)" BUILD=build-nompi OPT="$nompi_opt" all
exec bash tests/run.sh build build-asan build-nompi

#!/usr/bin/env bash
# The README's second command: install what is missing, build, and run the whole test
# suite three times — the optimised build, a build under AddressSanitizer and
# UndefinedBehaviorSanitizer (both with MPI, for data-parallel training), and the
# optimised build without MPI, which must keep working as before. Ends with
# "N passed, N failed, N skipped". Tests that need ../shared (benchmark and training
# images) are skipped when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j"$(nproc)" MPI=1 all
make -j"$(nproc)" MPI=1 BUILD=build-asan OPT="-O1 -march=native" \
    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
make -j"$(nproc)" BUILD=build-nompi all
exec bash tests/run.sh build build-asan build-nompi

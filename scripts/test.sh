#!/usr/bin/env bash
# The README's second command: install what is missing, build, and run the whole test
# suite twice — the optimised build, and a build under AddressSanitizer and
# UndefinedBehaviorSanitizer. Ends with "N passed, N failed, N skipped". Tests that
# need ../shared (benchmark and training images) are skipped when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j"$(nproc)" all
make -j"$(nproc)" BUILD=build-asan OPT="-O1 -march=native" \
    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
exec bash tests/run.sh build build-asan

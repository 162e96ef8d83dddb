#!/usr/bin/env bash
# The README's second command: install what is missing, build, run the whole test
# suite. Ends with "N passed, N failed, N skipped". Tests that need ../shared (the
# benchmark and training images) are skipped when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j"$(nproc)" all
bash tests/run.sh build

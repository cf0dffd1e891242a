#!/usr/bin/env bash
# Long fuzzing with libFuzzer (clang): builds build-fuzz with -DNDTK_BUILD_FUZZ=ON, writes each
# target's golden-image seeds into build-fuzz/corpus/<target>, and runs every target for
# NDTK_FUZZ_SECONDS (default 60) seconds. Crashes land in build-fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${NDTK_FUZZ_SECONDS:-60}
scripts/setup.sh build 2>/dev/null  # standalone drivers, used to export seeds
CC=clang CXX=clang++ scripts/setup.sh build-fuzz -DNDTK_BUILD_FUZZ=ON -DNDTK_SANITIZE=ON \
  -DNDTK_BUILD_PYTHON=OFF -DNDTK_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
mkdir -p build-fuzz/crashes
for t in build-fuzz/fuzz/fuzz_*; do
  name=$(basename "$t")
  corpus=build-fuzz/corpus/$name
  build/fuzz/"$name" --write-seeds "$corpus"
  echo "== $name ($SECONDS_PER_TARGET s)"
  "$t" -max_total_time="$SECONDS_PER_TARGET" -artifact_prefix=build-fuzz/crashes/"$name"- \
    -max_len=262144 "$corpus"
done

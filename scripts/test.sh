#!/usr/bin/env bash
# Set up and run every test: the normal build (unit, CLI golden, Python), then the whole suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer, then the concurrency tests under
# ThreadSanitizer. NDTK_LONG=1 also runs the long fuzz/soak targets.
set -euo pipefail
cd "$(dirname "$0")/.."
export NDTK_PYTHON=/usr/bin/python3

scripts/setup.sh build
(cd build && ctest --output-on-failure -j2)

echo "== sanitizer build (ASan + UBSan)"
# -O1 -g1: full sanitizer coverage with line tables, at a fraction of -O2 -g's compile time.
scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNDTK_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DNDTK_BUILD_PYTHON=OFF -DNDTK_BUILD_BENCH=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j2)

echo "== thread sanitizer build (data path concurrency)"
scripts/setup.sh build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNDTK_TSAN=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DNDTK_BUILD_PYTHON=OFF -DNDTK_BUILD_BENCH=OFF
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j2 -L unit \
  -R 'Concurren|Thread')

if [ "${NDTK_LONG:-0}" = 1 ] && [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh
fi
echo "ndtk: all test suites passed"

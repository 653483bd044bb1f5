#!/usr/bin/env bash
# The one command that runs every test: installs what is missing, builds,
# and runs the whole suite with ctest (unit tests per module, end-to-end
# tests against the real daemon, the crash test, the Python interop test).
# CSPH_SANITIZE=1 runs it all under ASan + UBSan in build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ "${CSPH_SANITIZE:-0}" = 1 ]; then
  export BUILD_DIR=${BUILD_DIR:-build-asan} BUILD_TYPE=${BUILD_TYPE:-Debug}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j2 "$@"

#!/usr/bin/env bash
# Configure and build csphub into $BUILD_DIR (default build/).
# CSPH_SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DCSPH_SANITIZE="$([ "${CSPH_SANITIZE:-0}" = 1 ] && echo ON || echo OFF)" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"

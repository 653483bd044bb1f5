#!/usr/bin/env bash
# The one command to get a running hub on a fresh Debian 12 machine:
# installs what is missing, builds, and runs csphubd in the foreground on its
# embedded default: LMDB in ./data, security none on tcp://127.0.0.1:7450,
# the schemas in schemas/. Extra arguments go to csphubd (see --help).
# Stop it with Ctrl-C (it finishes the batch in hand and exits cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec "${BUILD_DIR:-build}/csphubd" --config config/csphub.yaml "$@"

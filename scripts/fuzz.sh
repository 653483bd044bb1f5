#!/usr/bin/env bash
# Fuzz the request decoder and the schema validator with libFuzzer (clang,
# from Debian), under AddressSanitizer and UndefinedBehaviorSanitizer, for a
# bounded time each:  scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
#
# A crash leaves its input in build-fuzz/; copy it into
# tests/fuzz/regressions/ and the suite (test_fuzz_regressions) replays it
# for ever after.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
# FUZZ_SEED=N makes a run repeatable (CI uses it); unset, libFuzzer picks one.
SEED_ARG=${FUZZ_SEED:+-seed=$FUZZ_SEED}
need=()
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
scripts/install-deps.sh
OUT=build-fuzz
mkdir -p "$OUT"
HUB="hub/wire.c hub/mpx.c hub/err.c hub/schema.c hub/yamlx.c hub/utf8.c hub/log.c common/timefmt.c common/ref.c"
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Ihub -Icommon -Iinclude -Itests/fuzz -DCSPH_SOURCE_DIR=\"$PWD\""
LIBS="$(pkg-config --libs msgpack yaml-0.1 jansson)"
status=0
for t in wire schema; do
  clang-14 $CFLAGS -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" tests/fuzz/fuzz_common.c $HUB $LIBS
  mkdir -p "$OUT/corpus-$t"
  echo "== fuzzing the $t target for ${SECONDS_EACH}s =="
  if ! (cd "$OUT" && ./"fuzz_$t" $SEED_ARG -max_total_time="$SECONDS_EACH" -max_len=70000 \
          -print_final_stats=1 "corpus-$t" "../tests/fuzz/seeds/$t" 2>&1 | tail -12); then
    status=1
  fi
  if ls "$OUT"/crash-* "$OUT"/leak-* "$OUT"/timeout-* >/dev/null 2>&1; then
    echo "fuzz: a failing input was found in $OUT/ (crash-*, leak-*, timeout-*)."
    echo "      Copy it to tests/fuzz/regressions/ and fix the code; the suite replays it."
    status=1
  fi
done
exit $status

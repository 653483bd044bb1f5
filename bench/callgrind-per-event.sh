#!/usr/bin/env bash
# Instructions an event, counted by callgrind: a deterministic measure of what
# the hub spends per event, where wall-clock figures on a shared machine move by
# +-0.05 in a ratio (bench/README.md, "what the rules cost an event").
#
# usage: bench/callgrind-per-event.sh [--no-rules] [--hubd PATH] [-n N] [-- BENCH ARGS...]
#   --no-rules   rules_file: none (default: the source tree's config/rules.yaml)
#   --hubd PATH  the daemon (default: build/csphubd)
#   -n N         events (default 50000: the start-up, ~1 M instructions with
#                rules, then weighs some 25 an event)
#   BENCH ARGS   passed to csphub-bench, e.g. --alert-rate 0.05 for the alert
#                feed that --compare-rules uses (default: the classic feed)
#
# One publisher, one request of 100 events in flight, the hub under callgrind.
# limits.index_hold_ms is set high so that index.mdb is committed on its batch
# and event counts only: with the default 50 ms the commits depend on how slow
# valgrind happens to be, and the per-event figure moves by ~700 instructions.
# Prints instructions an event and the directory holding callgrind.out (read
# it with callgrind_annotate --inclusive=yes).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
hubd=build/csphubd n=50000 rules="$src/config/rules.yaml"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-rules) rules=none; shift ;;
    --hubd) hubd=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "callgrind-per-event.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "callgrind-per-event.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
bench=build/bench/csphub-bench
[ -x "$bench" ] || { echo "callgrind-per-event.sh: build $bench first (scripts/build.sh)" >&2; exit 2; }
d=$(mktemp -d /var/tmp/csphub-cg.XXXXXX)
port=$((7700 + RANDOM % 200))
cat > "$d/hub.yaml" <<EOF
data_dir: $d/data
listen: [tcp://127.0.0.1:$port]
security: none
log_level: warn
schemas_dir: $src/schemas
panels_file: $src/config/panels.yaml
rules_file: $rules
retention_file: none
indicators_file: $src/config/indicators.yaml
areas_file: $src/config/areas.yaml
limits:
  index_hold_ms: 60000
  map_size_mb: 2048   # valgrind cannot map the default 64 GiB
EOF
valgrind --tool=callgrind --callgrind-out-file="$d/callgrind.out" "$hubd" --config "$d/hub.yaml" \
  >/dev/null 2>"$d/valgrind.log" &
hub=$!
# Wait (with a deadline) for the hub to listen: valgrind takes seconds to start it.
for _ in $(seq 1 600); do
  ss -ltn | grep -q ":$port " && break
  kill -0 "$hub" 2>/dev/null || { echo "callgrind-per-event.sh: the hub exited; see $d/valgrind.log" >&2; exit 1; }
  sleep 0.1
done
"$bench" --endpoint "tcp://127.0.0.1:$port" --no-baseline -n "$n" -p 1 -w 1 -b 100 \
  --reply-timeout 600 --duration-limit 0 "$@" >"$d/bench.out" 2>&1
kill -TERM "$hub"
wait "$hub" || true
ir=$(sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$d/valgrind.log" | tr -d ,)
[ -n "$ir" ] || { echo "callgrind-per-event.sh: no instruction count in $d/valgrind.log" >&2; exit 1; }
echo "instructions an event: $((ir / n))  ($ir over $n events; rules: $rules)"
echo "$d"

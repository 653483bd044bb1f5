#!/usr/bin/env bash
# bench/report-compare.sh: time one hub binary's reports over a data directory
# already loaded, and keep their outputs, so that two builds (before and after
# a change to the report) can be compared figure for figure and in time on
# the same log.
#
# usage: bench/report-compare.sh LABEL CSPHUBD CONFIG AS_OF [OUT]
#   LABEL    names the outputs (OUT/LABEL.year.csv, ...)
#   CSPHUBD  the daemon to run (e.g. build/csphubd, or another tree's)
#   CONFIG   the hub's config over the loaded data directory; its first
#            listen endpoint must be free (the hub is started and stopped here)
#   AS_OF    the seq every report is computed as of (each report adds an
#            audit.access event, so an unpinned report would move)
#   OUT      where outputs and the hub's log go (default /tmp/csphub-report-compare)
#
# It starts the hub, runs one year's report to map the log into the process,
# then three of each: the year 2024-07..2025-06 (CSV) and the explanation of
# marac.cases in 2025-03, printing each command's wall time and the load;
# then one each of the year in JSON, the year as of AS_OF/2, a period of days,
# and three more explanations; stops the hub and prints its timing lines.
# Compare two labels' outputs with cmp (bench/README.md, "Reports").
set -euo pipefail
cd "$(dirname "$0")/.."
L=$1 HUBD=$2 CONFIG=$3 ASOF=$4 OUT=${5:-/tmp/csphub-report-compare}
B=${BUILD_DIR:-build}
EP=$(sed -n 's/^ *- *"\{0,1\}\(tcp:\/\/[^"]*\)"\{0,1\}$/\1/p' "$CONFIG" | head -1)
[ -n "$EP" ] || { echo "report-compare: no tcp:// listen endpoint in $CONFIG" >&2; exit 2; }
mkdir -p "$OUT"
C=("$B/cli/csphub" --hub "$EP" --timeout 10m)
"$HUBD" --config "$CONFIG" > "$OUT/$L.hub.log" 2>&1 &
HP=$!
trap 'kill $HP 2>/dev/null || true; wait $HP 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do "${C[@]}" --timeout 500ms ping >/dev/null 2>&1 && break; done
A=(--from 2024-07 --to 2025-06 --as-of "$ASOF")
"${C[@]}" report "${A[@]}" --format csv > /dev/null
# timed FILE CMD...: run CMD with its output in FILE, print the seconds it took
timed() { local f=$1 t0 t1; shift; t0=$(date +%s.%N); "$@" > "$f"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
for _ in 1 2 3; do
  s=$(timed "$OUT/$L.year.csv" "${C[@]}" report "${A[@]}" --format csv)
  echo "$L year: $s s wall (command), load $(cut -d' ' -f1 /proc/loadavg)"
  s=$(timed "$OUT/$L.explain.json" "${C[@]}" report "${A[@]}" --explain marac.cases \
      --month 2025-03 --format json)
  echo "$L explain marac.cases 2025-03: $s s wall (command), load $(cut -d' ' -f1 /proc/loadavg)"
done
"${C[@]}" report "${A[@]}" --format json > "$OUT/$L.year.json"
"${C[@]}" report --from 2024-07 --to 2025-06 --as-of $((ASOF / 2)) --format csv > "$OUT/$L.asof.csv"
"${C[@]}" report --from 2024-07-15 --to 2025-02-10 --as-of "$ASOF" --format csv > "$OUT/$L.days.csv"
for x in asb.repeat-callers:2025-03 hate.incidents:2025-03 marac.in-time:2025-01; do
  "${C[@]}" report "${A[@]}" --explain "${x%%:*}" --month "${x##*:}" --format json \
    > "$OUT/$L.explain-${x%%:*}.json"
done
kill $HP
wait $HP || true
trap - EXIT
grep "report:" "$OUT/$L.hub.log" | sed "s/^/$L hub: /"

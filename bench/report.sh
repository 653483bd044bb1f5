#!/usr/bin/env bash
# bench/report.sh: how long a year's partnership report takes over a large log
# (issue 16: 10 million events, a year's report under 5 s, --explain under 2 s).
#
# usage: bench/report.sh [EVENTS] [DIR]
#   EVENTS  events to generate and publish (default 1000000; 10000000 is the
#           issue's size, about an hour to load on a 2-core machine)
#   DIR     where the feed and the hub's data go (default /tmp/csphub-report-bench);
#           a DIR whose log already holds the feed is reused (the load is skipped)
#
# It generates a year of one borough's feed (csphub-gen, seed 1, from
# 2025-04-01), publishes it to a hub with the default rules and indicators,
# then times, three times each, `csphub report` for the year 2025-04..2026-03
# (CSV) and `csphub report --explain` of two indicators' months, and pings the
# hub while a report runs (the report is computed off the loop thread: the
# pings must stay fast). Prints one line of figures a measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
DIR=${2:-/tmp/csphub-report-bench}
B=${BUILD_DIR:-build}
EP=tcp://127.0.0.1:${PORT:-17460}
mkdir -p "$DIR"
C=("$B/cli/csphub" --hub "$EP" --timeout 10m)

if [ ! -s "$DIR/feed.jsonl" ] || [ "$(cat "$DIR/feed.events" 2>/dev/null)" != "$N" ]; then
  echo "generating $N events ..."
  "$B/bench/csphub-gen" --seed 1 --events "$N" --start 2025-04-01 --output "$DIR/feed.jsonl"
  echo "$N" > "$DIR/feed.events"
  rm -rf "$DIR/data"
fi
printf 'limits:\n  map_size_mb: 65536\n' > "$DIR/hub.yaml"
"$B/csphubd" --config "$DIR/hub.yaml" --data "$DIR/data" --listen "$EP" --log-level info \
  2> "$DIR/hub.log" &
HUB=$!
trap 'kill $HUB 2>/dev/null || true; wait $HUB 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do "${C[@]}" --timeout 100ms ping >/dev/null 2>&1 && break; done
if [ ! -s "$DIR/loaded" ]; then
  echo "publishing ..."
  t0=$(date +%s.%N)
  "${C[@]}" publish "$DIR/feed.jsonl" > "$DIR/publish.txt" || true
  t1=$(date +%s.%N)
  echo "loaded in $(echo "$t1 - $t0" | bc) s" | tee "$DIR/loaded"
fi
LAST=$("${C[@]}" --json ping | sed 's/.*"last_seq":\([0-9]*\).*/\1/')
echo "log: last seq $LAST, data.mdb $(du -m "$DIR/data/data.mdb" | cut -f1) MiB"

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
median() { sort -n | sed -n 2p; }

for i in 1 2 3; do
  seconds "${C[@]}" report --from 2025-04 --to 2026-03 --as-of "$LAST" --format csv
done | median | xargs printf 'year report (default indicators, %s events): %s s median of 3\n' "$LAST"
for ind in asb.repeat-callers marac.cases; do
  for i in 1 2 3; do
    seconds "${C[@]}" report --from 2025-04 --to 2026-03 --as-of "$LAST" \
      --explain "$ind" --month 2025-09
  done | median | xargs printf 'explain %s 2025-09: %s s median of 3\n' "$ind"
done

# The loop is not held by a report: pings, and a publish of one event,
# answered by the loop thread while a report is computed on a worker.
/usr/bin/python3 - "$EP" <<'PY'
import sys, threading, time, zmq, msgpack
ep = sys.argv[1]
ctx = zmq.Context()
def call(sock, m):
    sock.send(msgpack.packb(m))
    return msgpack.unpackb(sock.recv(), raw=False)
done = {}
def run_report():
    s = ctx.socket(zmq.DEALER); s.connect(ep)
    t = time.monotonic()
    r = call(s, {"op": "report", "from": "2025-04", "to": "2026-03"})
    done["s"] = time.monotonic() - t
    done["ok"] = r.get("ok")
th = threading.Thread(target=run_report); th.start()
p = ctx.socket(zmq.DEALER); p.connect(ep)
call(p, {"op": "ping"})
worst = 0.0; n = 0; i = 0
while th.is_alive():
    t = time.monotonic()
    i += 1
    r = call(p, {"op": "publish", "event": {"id": "bench-report-%d-%d" % (time.time_ns(), i),
             "type": "call", "source": "bench", "occurred_at": "2026-03-01T12:00:00Z",
             "caller": "P-bench", "category": "other"}})
    worst = max(worst, time.monotonic() - t); n += 1
    time.sleep(0.01)
th.join()
print("while a report ran (%.2f s, ok %s): %d publishes acknowledged, the slowest in %.1f ms"
      % (done["s"], done["ok"], n, worst * 1000))
PY
grep -E 'VmHWM|VmRSS' /proc/$HUB/status | tr -s ' \t' ' ' | paste -sd' '
echo "the hub's own timings (wall, and CPU over its threads: less bent by a busy machine):"
grep 'INFO  report:' "$DIR/hub.log" | sed 's/.*report: /  /'

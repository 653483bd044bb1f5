#!/usr/bin/env bash
# The first command for a newcomer: on a fresh Debian 12 machine it installs
# what is missing, builds, starts a hub on tcp://127.0.0.1:7450 with its data
# in ./demo-data, imports real police open data (when ../shared/data is
# there) and a generated year of one borough's multi-agency feed, shows each
# panel's queue and the hub's counters, and leaves the hub running.
# docs/demo.md explains what you see and why.
#
#   scripts/demo.sh          run the demo (about a minute; most of it is the build)
#   scripts/demo.sh stop     stop the demo hub
#   scripts/demo.sh clean    stop it and delete demo-data/ and demo-data.log
#
# DEMO_EVENTS (default 50000) and DEMO_SEED (default 2025) size and seed the
# generated year.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD_DIR:-build}
DATA=demo-data
LOG=demo-data.log
HUB=tcp://127.0.0.1:7450
PORT=7450
EVENTS=${DEMO_EVENTS:-50000}
SEED=${DEMO_SEED:-2025}
SHARED=$ROOT/../shared/data/police-uk
PANELS=(marac community-marac asb-case-review hate-crime iom sgv mace tasking channel mappa)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# The pid of the demo hub when one is running on demo-data, else nothing.
hub_pid() {
    local pid
    [ -s "$DATA/csphub.lock" ] || return 0
    pid=$(head -n1 "$DATA/csphub.lock" | tr -dc 0-9)
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = csphubd ] && echo "$pid"
    return 0
}

# Wait (up to $2 seconds) for process $1 to exit, without sleeping blind.
wait_exit() {
    timeout "$2" tail --pid="$1" -f /dev/null 2>/dev/null || ! kill -0 "$1" 2>/dev/null
}

stop_web() {
    local pid
    [ -s "$DATA/web.pid" ] || return 0
    pid=$(tr -dc 0-9 <"$DATA/web.pid")
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = csphub-web ]; then
        kill -TERM "$pid" && wait_exit "$pid" 20 && echo "demo: web console (pid $pid) stopped"
    fi
    rm -f "$DATA/web.pid"
}

stop_hub() {
    stop_web
    local pid
    pid=$(hub_pid)
    if [ -z "$pid" ]; then
        echo "demo: no demo hub is running"
        return 0
    fi
    kill -TERM "$pid"
    if wait_exit "$pid" 20; then
        echo "demo: hub (pid $pid) stopped cleanly; its data stays in $DATA/"
    else
        die "hub (pid $pid) did not stop within 20 s; see $LOG"
    fi
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

case "${1:-}" in
    stop) stop_hub; exit 0 ;;
    clean) stop_hub; rm -rf "$DATA" "$LOG"; echo "demo: removed $DATA/ and $LOG"; exit 0 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    "") ;;
    *) die "unknown argument '$1' (try: scripts/demo.sh --help)" ;;
esac

started=$SECONDS
HUBPID=
handed_over=0
# A demo that fails half-way stops the hub it started, so that running it
# again starts clean; the log stays for reading.
on_exit() {
    local rc=$?
    if [ "$handed_over" = 0 ] && [ -n "$HUBPID" ] && kill -0 "$HUBPID" 2>/dev/null; then
        kill -TERM "$HUBPID" 2>/dev/null || true
        wait_exit "$HUBPID" 20 || kill -KILL "$HUBPID" 2>/dev/null || true
        [ "$rc" = 0 ] || printf 'demo: stopped the hub; the last lines of %s:\n' "$LOG" >&2
        [ "$rc" = 0 ] || tail -n 15 "$LOG" >&2 || true
    fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
step "1/7  Checking that nothing is already on $HUB"
pid=$(hub_pid)
if [ -n "$pid" ]; then
    echo "A demo hub is already running (pid $pid) on $DATA/. Use it as it is:"
    echo "    $BUILD/cli/csphub queue marac"
    echo "or stop it first and run the demo again:"
    echo "    scripts/demo.sh stop && scripts/demo.sh"
    exit 1
fi
if listening; then
    echo "Something is already listening on 127.0.0.1:$PORT, so the demo will not"
    echo "start a second hub there. If it is a csphub hub of yours, stop it (Ctrl-C in"
    echo "its terminal, or kill its pid); to see what it is:  ss -ltnp 'sport = :$PORT'"
    exit 1
fi
note "port $PORT is free"

# ---------------------------------------------------------------------------
step "2/7  Installing what is missing (scripts/install-deps.sh)"
scripts/install-deps.sh

step "3/7  Building (scripts/build.sh)"
note "(a minute or two on a fresh machine; progress lines are hidden, warnings and errors are not)"
BUILD_DIR=$BUILD scripts/build.sh 2>&1 |
    { grep -Ev '^\[ *[0-9]+%\] (Building|Linking|Built)|^Consolidate|^-- ' || true; }
[ -x "$BUILD/csphubd" ] || die "the build produced no $BUILD/csphubd"

# The programs, wherever this build put them.
find_prog() {
    local p
    for p in "$@"; do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 0
}
CLI=$(find_prog "$BUILD/csphub" "$BUILD/cli/csphub")
CSV=$(find_prog "$BUILD/adapters/csv/csphub-csv" "$BUILD/adapters/csphub-csv")
GEN=$(find_prog "$BUILD/bench/csphub-gen" "$BUILD/csphub-gen")
if [ -z "$GEN" ]; then
    # Step 3 builds it with everything else (bench/gen*.c, bench/vocab.c and
    # common/ together): missing means that build did not finish.
    echo "demo: $BUILD/bench/csphub-gen was not built; run BUILD_DIR=$BUILD scripts/build.sh and read its errors" >&2
    exit 1
fi

# The csphub command, or (until it is built) the same few requests from
# Debian's python3-zmq and python3-msgpack.
hub() {
    if [ -n "$CLI" ]; then
        "$CLI" --hub "$HUB" "$@"
    else
        /usr/bin/python3 - "$HUB" "$@" <<'PY'
import json, sys, zmq, msgpack
hub, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
timeout = 10000
if cmd == "--timeout":  # a duration with its unit, as csphub takes it: 500ms, 10s
    t = args[0]
    timeout = int(float(t[:-2])) if t.endswith("ms") else int(float(t[:-1]) * 1000)
    cmd, args = args[1], args[2:]
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(hub)
def call(req):
    s.send(msgpack.packb(req))
    if not s.poll(timeout):
        sys.exit("csphub: the hub did not answer within %d ms" % timeout)
    return msgpack.unpackb(s.recv(), raw=False)
if cmd == "ping":
    r = call({"op": "ping"})
    print("hub %s answers: %s, last seq %d" % (hub, r["version"], r["last_seq"]))
elif cmd == "publish":
    lines = [l for l in open(args[0]) if l.strip()]
    st, i, inflight, rej = {}, 0, 0, {}
    while i < len(lines) or inflight:
        while i < len(lines) and inflight < 200:
            s.send(msgpack.packb({"op": "publish", "req": i, "event": json.loads(lines[i])}))
            i, inflight = i + 1, inflight + 1
        if not s.poll(timeout):
            sys.exit("csphub: the hub stopped answering")
        r = msgpack.unpackb(s.recv(), raw=False)
        inflight -= 1
        st[r["status"]] = st.get(r["status"], 0) + 1
        if r["status"] == "rejected":
            rej[r["error"]["code"]] = rej.get(r["error"]["code"], 0) + 1
    print("%s: %d events read" % (args[0], len(lines)))
    for k in ("accepted", "duplicate", "rejected"):
        print("  %-10s %d" % (k, st.get(k, 0)))
    if rej:
        print("  rejected by code: " + ", ".join("%s %d" % kv for kv in rej.items()))
    sys.exit(3 if rej else 0)
elif cmd == "queue":
    panel, js = args[0], "--json" in args
    after = 0
    if not js:
        print("ID    PRIORITY  STATUS  REASON")
    while True:
        r = call({"op": "alerts", "panel": panel, "after": after, "max": 1000})
        if not r.get("alerts"):
            break
        for a in r["alerts"]:
            print(json.dumps(a) if js else "%5d %-9s %-7s %s" % (a["id"], a["priority"], a["status"], a["reason"]))
            after = a["id"]
elif cmd == "stats":
    c = call({"op": "stats"})["counters"]
    for k, v in c.items():
        if not isinstance(v, dict):
            print("  %-24s %s" % (k, v))
    for k in ("rejected", "alerts"):
        print("%s, by %s" % (k, "error code" if k == "rejected" else "panel"))
        for p, n in c.get(k, {}).items():
            print("  %-24s %s" % (p, n))
PY
    fi
}

# ---------------------------------------------------------------------------
step "4/7  Starting the hub: $BUILD/csphubd on $HUB, data in $DATA/, log in $LOG"
if [ -d "$DATA" ]; then
    note "$DATA/ holds an earlier run: what is imported again comes back 'duplicate'"
    note "(the hub knows every event it holds). scripts/demo.sh clean starts afresh."
fi
setsid "$BUILD/csphubd" --config config/csphub.yaml --data "./$DATA" --listen "$HUB" \
    >>"$LOG" 2>&1 </dev/null &
HUBPID=$!
deadline=$((SECONDS + 20))
until hub --timeout 500ms ping >/dev/null 2>&1; do
    kill -0 "$HUBPID" 2>/dev/null || die "the hub exited at start; see $LOG"
    [ "$SECONDS" -lt "$deadline" ] || die "the hub did not answer ping within 20 s; see $LOG"
done
hub ping

# ---------------------------------------------------------------------------
step "5/7  Importing real police open data (data.police.uk, Open Government Licence)"
csv_import() { # MAPPING FILE
    local rc=0
    "$CSV" --hub "$HUB" --no-progress --state "$DATA/$(basename "$2").state" --show 3 \
        --mapping "$1" "$2" || rc=$?
    # 3: some rows were rejected (the file's own mess); the hub said why.
    [ "$rc" = 0 ] || [ "$rc" = 3 ] || die "csphub-csv failed (exit $rc) on $2"
}
if [ ! -d "$SHARED" ]; then
    note "skipped: $SHARED is not there (the real data lives beside this clone)"
elif [ -z "$CSV" ]; then
    note "skipped: the CSV adapter (csphub-csv) is not in this build yet"
else
    note "Northumbria Police, every ASB record of 2022 (39,706 rows, month and LSOA only):"
    csv_import adapters/csv/mappings/northumbria-asb.yaml "$SHARED/northumbria-asb-2022.tsv"
    note ""
    note "City of London Police, street-level crime and ASB of 2023:"
    csv_import adapters/csv/mappings/city-of-london-street.yaml \
        "$SHARED/city-of-london-2023-street.csv"
fi

# ---------------------------------------------------------------------------
step "6/7  Generating a year of one borough's multi-agency feed and publishing it"
YEAR=$DATA/generated-year-$SEED.jsonl
"$GEN" --seed "$SEED" --events "$EVENTS" --start 2025-01-01 --output "$YEAR" --stats \
    2>"$YEAR.stats" || { cat "$YEAR.stats" >&2; die "csphub-gen failed"; }
sed '/^  by source/,/^  scenarios/{/^  scenarios/!d}; s/^/    /' "$YEAR.stats"
note ""
note "publishing $YEAR (one event a line, in the order the agencies' systems send them):"
rc=0
hub publish "$YEAR" || rc=$?
# 3: the broken rows were rejected, as they should be.
[ "$rc" = 0 ] || [ "$rc" = 3 ] || die "publishing failed (exit $rc)"

# ---------------------------------------------------------------------------
step "7/7  What each panel's queue now holds"
declare -A TITLE=(
    [marac]="Domestic abuse MARAC: DASH 14+, 3 incidents in 12 months, repeat MARAC"
    [community-marac]="Community MARAC: 3 and 10 ASB calls in 24 weeks, vulnerable repeat victims"
    [asb-case-review]="ASB Case Review: 3 reports in 6 months, 5 victims at one place, hate, applications"
    [hate-crime]="Hate crime: repeat victims and households"
    [iom]="IOM: 3 neighbourhood-crime arrests in a year"
    [sgv]="Serious Group Violence: knives and serious injury, ages 10-25"
    [mace]="MACE: 3 missing episodes in 90 days, exploitation concerns"
    [tasking]="Tasking: 20 ASB and violence reports in an LSOA within 31 days"
    [channel]="Channel (restricted: shows only that a case exists)"
    [mappa]="MAPPA (restricted; direct referrals only in this rule pack)"
)
note "Each panel: the head of its queue (csphub queue PANEL, oldest first), then how"
note "many alerts each rule raised, with the first reason it gave."
tmp=$(mktemp)
for p in "${PANELS[@]}"; do
    printf '\n\033[1m%s\033[0m  %s\n' "$p" "${TITLE[$p]}"
    hub queue "$p" >"$tmp" || die "queue $p failed"
    head -n 4 "$tmp" | cut -c1-150
    hub queue "$p" --json >"$tmp" 2>/dev/null || true
    /usr/bin/python3 - "$tmp" <<'PY' || true
import collections, json, sys
count, first = collections.Counter(), {}
for line in open(sys.argv[1]):
    if line.strip():
        a = json.loads(line)
        count[a["rule"]] += 1
        first.setdefault(a["rule"], a["reason"])
print("    %d alerts" % sum(count.values()))
for rule, n in count.most_common():
    print("    %-32s %5d  e.g. %s" % (rule, n, first[rule][:100]))
PY
done
rm -f "$tmp"

printf '\n\033[1mThe hub'"'"'s counters\033[0m\n'
hub stats

# The coordinators' web console beside the demo hub (security none: the
# console checks each account's panels itself), with one demo coordinator.
WEBBIN=$BUILD/web/csphub-web
WEBLINE="  (the web console is not in this build: it needs libmicrohttpd-dev)"
if [ -x "$WEBBIN" ]; then
    ACC=$DATA/web.accounts
    WEBPW=demo-coordinator-2025
    [ -s "$ACC" ] || echo "$WEBPW" | "$WEBBIN" user add demo.coordinator --role panel \
        --panels marac,community-marac,asb-case-review,hate-crime,iom,sgv,mace,tasking \
        --accounts "$ACC" >/dev/null
    stop_web >/dev/null
    "$WEBBIN" --hub "$HUB" --accounts "$ACC" --listen 127.0.0.1:7480 \
        >>"$DATA/web.log" 2>&1 &
    echo $! >"$DATA/web.pid"
    WEBLINE="  Web console: http://127.0.0.1:7480/  sign in as demo.coordinator, password $WEBPW
  (log in $DATA/web.log; it stops with: scripts/demo.sh stop)"
fi

# Someone to follow: the generator's textbook case of escalating domestic abuse.
who=$(sed -n 's/^ *escalating domestic abuse *\(P-[0-9]*\)$/\1/p' "$YEAR.stats" | head -n 1)
who=${who:-P-000001}
handed_over=1
C=${CLI:-$BUILD/cli/csphub}
cat <<EOF

$(printf '\033[1m')The hub is still running$(printf '\033[0m') (pid $HUBPID, on $HUB, data in $DATA/, log in $LOG).
The demo took $((SECONDS - started)) s.
$WEBLINE

Next, try:

  $C queue marac                          # the MARAC coordinator's queue
  $C watch sgv --consumer me              # new SGV alerts as they arrive (Ctrl-C to stop)
  $C replay --person $who           # one victim's year, across agencies
  $C replay --types da.incident --max 20  # export events as JSON lines
  $C rejects                              # the broken rows, with what was wrong
  $C alert 1 accept --note "Listed for the next meeting"
  $GEN --seed 7 --events 5000 --start 2026-01-01 --output next.jsonl && $C publish next.jsonl
  $BUILD/csphubd --config config/csphub.yaml --rederive $DATA --data \$(mktemp -d)/log
                                          # replay the log through the rules: every alert again

After stopping the hub, check the log's hash chain end to end:
  $BUILD/csphubd --config config/csphub.yaml --verify --data $DATA

Stop the hub:  scripts/demo.sh stop      (or: kill \$(cat $DATA/csphub.lock))
Start afresh:  scripts/demo.sh clean && scripts/demo.sh
What you just saw, and why: docs/demo.md
EOF

#!/usr/bin/env bash
# A secure setup, step by step: CURVE keys for the hub, a police feed, a
# MARAC coordinator and an auditor; an identity file; the hub in
# `security: curve`; then each of them at work, and what is refused.
# Everything goes into ./demo-secure/ (scripts/demo-secure.sh clean removes it).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=demo-secure
PORT=${CSPH_SECURE_PORT:-7451}
EP=tcp://127.0.0.1:$PORT
B=${BUILD_DIR:-build}
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
if [ "${1:-}" = clean ]; then
  [ -f $DIR/data/csphub.lock ] && kill "$(cat $DIR/data/csphub.lock)" 2>/dev/null || true
  rm -rf $DIR; echo "removed $DIR/"; exit 0
fi
[ -e $DIR ] && { echo "demo-secure: $DIR/ exists; run: scripts/demo-secure.sh clean"; exit 2; }

step "1. Install and build"
scripts/install-deps.sh >/dev/null
scripts/build.sh >/dev/null

step "2. Keys: one pair for the hub and one for each user (csphub keygen)"
mkdir -p $DIR/keys && chmod 700 $DIR/keys
for who in hub police marac-coordinator auditor scrutiny-committee; do
  $B/cli/csphub keygen $who --dir $DIR/keys
done
ls -l $DIR/keys

step "3. The identity file: who may connect, with which role"
cat > $DIR/identities.yaml <<YAML
clients:
  - {name: police, role: agency, key_file: keys/police.pub,
     types: [asb.report, call, da.incident, violence.incident, concern]}
  - {name: marac-coordinator, role: panel, key_file: keys/marac-coordinator.pub, panels: [marac]}
  - {name: auditor, role: auditor, key_file: keys/auditor.pub}
  - {name: scrutiny-committee, role: strategic, key_file: keys/scrutiny-committee.pub}
YAML
chmod 644 $DIR/identities.yaml  # the hub refuses one that others could change
cat $DIR/identities.yaml
cat > $DIR/csphub.yaml <<YAML
data_dir: data
listen: [$EP]
security: curve
identities_file: identities.yaml
server_key_file: keys/hub.key
schemas_dir: $PWD/schemas
panels_file: $PWD/config/panels.yaml
rules_file: $PWD/config/rules.yaml
indicators_file: $PWD/config/indicators.yaml
areas_file: $PWD/config/areas.yaml
YAML

step "4. The hub in security: curve (log in $DIR/hub.log)"
$B/csphubd --config $DIR/csphub.yaml 2> $DIR/hub.log &
HUBPID=$!
trap 'kill $HUBPID 2>/dev/null || true' EXIT
as() { local who=$1; shift; $B/cli/csphub --hub $EP --key $DIR/keys/$who.key --server-key $DIR/keys/hub.pub "$@"; }
for i in $(seq 1 100); do as auditor ping >/dev/null 2>&1 && break; done
as auditor ping

step "5. The police feed publishes (its source is stamped from its key)"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf '{"id":"da-1","type":"da.incident","occurred_at":"%s","victim":"V-1042","dash_score":16}\n' "$now" > $DIR/police.jsonl
as police publish $DIR/police.jsonl

step "6. The MARAC coordinator works the MARAC queue"
as marac-coordinator queue marac
echo "    ...and may not read the Channel panel:"
as marac-coordinator queue channel || true

step "7. The scrutiny committee reads the partnership's figures (aggregates only)"
month=$(date -u +%Y-%m)
as scrutiny-committee report --from "$month" --to "$month" | head -12
echo "    ...and may not read a record about a person:"
as scrutiny-committee replay --types da.incident || true

step "8. The auditor replays the log, then sees who read what"
as auditor replay --types da.incident
as auditor replay --types audit.access

step "9. What is refused"
echo "    the police feed claiming to be the council:"
printf '{"id":"x-1","type":"call","source":"council","occurred_at":"%s","caller":"P-1","category":"asb"}\n' "$now" > $DIR/spoof.jsonl
as police publish $DIR/spoof.jsonl || true
echo "    the auditor trying to record a decision:"
as auditor alert 1 close || true
echo "    a client with no key (the CURVE handshake fails; no answer):"
$B/cli/csphub --hub $EP --timeout 1s ping || true

kill $HUBPID; wait $HUBPID || true; trap - EXIT
printf '\nDone. Keys, identities and config are in %s/; docs/security.md explains each step.\n' $DIR

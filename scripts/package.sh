#!/usr/bin/env bash
# Build the Debian package with Debian's own tools (dpkg-buildpackage,
# debhelper), fail on any lintian error, install it, and check it as an IT
# officer would: the csphub user, the data directory, the key pair and its
# modes, the unit enabled (not started: no systemd as PID 1 here), the
# conffiles; then run the installed hub as csphub (runuser), publish and
# replay through it, scrape its metrics and health, and upgrade to a newer
# version with an edited conffile, which must be kept.
#
# Runs as root on a Debian 12 machine (CI's). It builds in a copy of the
# tree under $WORK (default: a temporary directory), so nothing is written
# beside the source. CSPH_PACKAGE_KEEP=1 leaves the package installed.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
[ "$(id -u)" = 0 ] || { echo "package.sh: run as root (it installs the package)" >&2; exit 2; }
WORK=${WORK:-$(mktemp -d /tmp/csphub-package.XXXXXX)}
say() { echo "== package: $*"; }
fail() { echo "package.sh: FAILED: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
need=()
for p in dpkg-dev debhelper lintian fakeroot curl lmdb-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -n "${CSPH_DEB:-}" ]; then   # a package built before: install and check only
  DEB=$CSPH_DEB
else
say "copying the tree to $WORK/csphub (build directories and .git left out)"
mkdir -p "$WORK/csphub"
tar -C "$SRC" --exclude='./build*' --exclude=./.git --exclude='./obj-*' -cf - . | tar -C "$WORK/csphub" -xf -

say "dpkg-buildpackage"
t0=$(date +%s)
(cd "$WORK/csphub" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
   dpkg-buildpackage -b -us -uc >"$WORK/build.log" 2>&1) || { tail -40 "$WORK/build.log"; fail "dpkg-buildpackage"; }
DEB=$(ls "$WORK"/csphub_*.deb)
say "built $(basename "$DEB") in $(( $(date +%s) - t0 )) s"

say "lintian (errors fail the build)"
lintian --fail-on error "$WORK"/csphub_*.changes 2>&1 | tee "$WORK/lintian.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "lintian errors"
fi

say "installing"
created_user=0
getent passwd csphub >/dev/null || created_user=1
apt-get install -y -qq --no-install-recommends "$DEB" >/dev/null
cleanup() {
  set +e
  [ -n "${HUB_PID:-}" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
  if [ "${CSPH_PACKAGE_KEEP:-0}" != 1 ]; then
    dpkg --purge csphub >/dev/null
    rm -rf /var/lib/csphub /etc/csphub
    [ "$created_user" = 1 ] && deluser --system csphub >/dev/null 2>&1
  fi
}
trap cleanup EXIT

getent passwd csphub >/dev/null || fail "no csphub user"
[ "$(stat -c '%U:%G %a' /var/lib/csphub)" = "csphub:csphub 750" ] || fail "/var/lib/csphub: $(stat -c '%U:%G %a' /var/lib/csphub)"
[ "$(stat -c '%U %a' /etc/csphub/keys/hub.key)" = "csphub 600" ] || fail "hub.key: $(stat -c '%U %a' /etc/csphub/keys/hub.key)"
[ -L /etc/systemd/system/multi-user.target.wants/csphubd.service ] || fail "the unit is not enabled"
[ -d /run/systemd/system ] || say "no systemd running: the unit is enabled, not started (as intended)"
conffiles=$(dpkg-query -W -f='${Conffiles}' csphub)
for f in csphub.yaml panels.yaml rules.yaml calendar.yaml; do
  grep -q "/etc/csphub/$f" <<<"$conffiles" || fail "/etc/csphub/$f is not a conffile"
done
for m in csphubd.8 csphub.yaml.5 csphub.1; do
  ls /usr/share/man/man*/"$m".gz >/dev/null || fail "no man page $m"
done
say "user, directories, key modes, unit, conffiles and man pages as expected"

say "the installed hub as csphub (runuser), from /"
runuser -u csphub -- /usr/sbin/csphubd --check-config || fail "--check-config"
cd /
runuser -u csphub -- /usr/sbin/csphubd 2>"$WORK/hub.log" &
HUB_PID=$!
# curl waits for the hub: it retries a refused connection and the 503 of a
# hub still starting, for 30 s at most.
curl -sf --retry 300 --retry-connrefused --retry-delay 0 --retry-max-time 30 \
  -o /dev/null http://127.0.0.1:9465/health || { cat "$WORK/hub.log"; fail "health never answered 200"; }
printf '%s\n' '{"id":"pkg-1","type":"asb.report","source":"police","occurred_at":"2025-03-01T21:14:00Z","location":{"lsoa":"E01000916"},"category":"personal"}' \
  > "$WORK/events.jsonl"
csphub publish "$WORK/events.jsonl" >/dev/null || fail "publish"
csphub replay | grep -q '"pkg-1"' || fail "replay did not return the event"
# The metrics are a snapshot the hub refreshes every 5 s: poll until it
# shows the event (30 s at most).
timeout 30 bash -c "until curl -sf http://127.0.0.1:9465/metrics | grep -q '^csphub_accepted_total 1\$'; do :; done" \
  || fail "the metrics never showed the event"
# SIGTERM to the hub itself (runuser's child), as systemd would send it;
# runuser then exits with the hub's status.
hubd=$(pgrep -P "$HUB_PID" -x csphubd) || fail "no csphubd under runuser"
kill -TERM "$hubd"
wait "$HUB_PID" || fail "the hub did not stop cleanly (exit $?)"; HUB_PID=
grep -q "stopped cleanly" "$WORK/hub.log" || fail "no 'stopped cleanly' in the hub's log"
[ "$(stat -c %U /var/lib/csphub/data.mdb)" = csphub ] || fail "data.mdb not owned by csphub"
say "published, replayed, scraped; stopped cleanly"

say "upgrade: an edited conffile and the key pair are kept"
key_before=$(cat /etc/csphub/keys/hub.pub)
sed -i 's/^log_level: info/log_level: warn/' /etc/csphub/csphub.yaml
rm -rf "$WORK/repack" && dpkg-deb -R "$DEB" "$WORK/repack"
sed -i 's/^Version: .*/&+upgrade1/' "$WORK/repack/DEBIAN/control"
dpkg-deb -b "$WORK/repack" "$WORK/csphub-upgrade.deb" >/dev/null
dpkg -i "$WORK/csphub-upgrade.deb" >/dev/null
grep -q '^log_level: warn' /etc/csphub/csphub.yaml || fail "the edited csphub.yaml was replaced"
[ "$(cat /etc/csphub/keys/hub.pub)" = "$key_before" ] || fail "the hub's key pair was replaced"
say "OK: package built, lint-clean, installed, run and upgraded"

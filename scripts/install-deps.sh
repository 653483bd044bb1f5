#!/usr/bin/env bash
# Install the Debian 12 packages csphub needs to build, run and test, when
# they are missing. Safe to run again: it installs nothing that is present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config   # compiler and build
  libzmq3-dev                        # ZeroMQ: every connection
  libuv1-dev                         # libuv: the event loop
  liblmdb-dev lmdb-utils             # LMDB: log, queues, rule state (+ mdb_stat for operators)
  libmsgpack-dev                     # msgpack-c: the wire format
  libyaml-dev                        # libyaml: config, schemas, rules
  libsodium-dev                      # libsodium: BLAKE2b (rule digests, logs of chain version 1), base64
  libssl-dev                         # OpenSSL libcrypto: SHA-256 for the log's hash chain
  libjansson-dev                     # jansson: JSON for commands and JSON-lines feeds
  libxxhash-dev                      # xxHash: XXH3 checksums of the journal's records (torn tails)
  libcsv-dev                         # libcsv: the CSV adapter's parser (quotes, delimiters)
  libcmocka-dev                      # cmocka: unit tests
  libmicrohttpd-dev                  # libmicrohttpd: the metrics and health endpoint, and csphub-web (HTTP, TLS)
  libsystemd-dev                     # libsystemd: sd_notify (Type=notify, watchdog, STATUS)
  systemd                            # systemd-analyze verify: the unit is checked by the tests
  help2man                           # man pages generated from each program's --help
  python3-prometheus-client          # the tests parse the metrics with Prometheus' own parser
  libcurl4-openssl-dev               # libcurl: the console's email notice (SMTP, STARTTLS)
  liboath-dev                        # liboath: the console's second factor (TOTP)
  python3-aiosmtpd                   # the email notice's test: a local SMTP server
  chromium chromium-driver python3-selenium  # browser tests: the console (Selenium) and the HTML report
  firefox-esr                        # the console's pages rendered by Firefox (--screenshot)
  libhiredis-dev                     # hiredis: csphub-bench --peers talks to Redis (optional: without it Redis is skipped)
  python3 python3-zmq python3-msgpack  # the interoperability test's foreign client
  python3-lmdb                       # scripts/check-chain.py: an auditor's own check of the log
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

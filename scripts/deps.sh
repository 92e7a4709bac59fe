#!/bin/sh
# deps.sh - install the Debian 12 packages pochta needs to build, run, test
# and benchmark. Idempotent: does nothing when everything is present.
# `make run`, `make test` and `make bench` call it first.
set -eu

BUILD="build-essential cmake pkg-config clang libevent-dev libunbound-dev libsqlite3-dev
libssl-dev libpsl-dev publicsuffix libidn2-dev libcrypt-dev libpcre2-dev libgmime-3.0-dev"
RUN="openssl ca-certificates"
TEST="nsd swaks python3 python3-pytest python3-dkim python3-aiosmtpd python3-dnspython python3-yaml libnet-ssleay-perl
fetchmail dovecot-core"
BENCH="postfix mount time"

want="$BUILD $RUN $TEST"
[ "${1:-}" = "--bench" ] && want="$want $BENCH"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing" >&2
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# postfix asks debconf questions; answer "No configuration" so it stays idle.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get install -y -q --no-install-recommends $missing

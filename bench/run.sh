#!/bin/sh
# run.sh - `make bench`: compare pochta with Postfix on this machine (accepted
# messages/s at 1/10/50/200 sessions with 2 KB and 100 KB messages, memory per
# idle connection) and print one table. Everything runs in a temporary
# directory on loopback ports and is removed at the end; no system service is
# touched. Takes about 5-10 minutes. See docs/bench.md.
#
# Usage: bench/run.sh [--seconds S] [--sessions 1,10] [--sizes "2 KB"] [--idle N] [--keep]
# Env: POCHTA_BUILD (default build/), BENCH_DIR (default /var/tmp: must be a
# real disk, since fsync on tmpfs costs nothing), BENCH_SECONDS.
set -eu
cd "$(dirname "$0")/.."

fail() { echo "bench/run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root: Postfix's master must start as root (it drops to user postfix)"
BUILD=${POCHTA_BUILD:-build}
[ -x "$BUILD/pochtad" ] && [ -x "$BUILD/pochta" ] || fail "no $BUILD/pochtad; run make first"
for tool in postfix postconf smtp-source nsd; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || fail "$tool missing; run scripts/deps.sh --bench"
done
[ -f /etc/postfix/master.cf ] || fail "/etc/postfix/master.cf missing (the template for the bench's own copy)"
getent passwd postfix >/dev/null || fail "user postfix missing; reinstall the postfix package"

# 1,000 idle connections need more descriptors than the usual soft limit of
# 1,024, in pochtad and in the client holding them (both inherit this).
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" || fail "cannot raise the open-files limit"

PYTHONDONTWRITEBYTECODE=1 PATH="/usr/sbin:/sbin:$PATH" POCHTA_BUILD="$BUILD" exec /usr/bin/python3 bench/bench.py "$@"

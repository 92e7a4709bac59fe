#!/bin/sh
# run.sh - `make bench`: compare pochta with Postfix on this machine and print
# three tables: inbound (accepted messages/s at 1/10/50/200 sessions with 2 KB
# and 100 KB messages, memory per idle connection; bench/bench.py), outbound
# (relayed messages/s delivered to an smtp-sink at 10 and 50 destinations;
# bench/outbound.py) and policy (messages/s with the envelope policy on and
# off, pochta's defaults against Postfix with equivalent restrictions, both
# resolving through the bench's NSD; bench/policy_cost.py). Everything runs
# in temporary directories on loopback addresses and is removed at the end;
# no system service or file is touched (the policy table's Postfix sees its
# own /etc/resolv.conf in a private mount namespace). Takes about 10-18
# minutes. See docs/bench.md.
#
# Usage: bench/run.sh [--seconds S] [--repeat N] [--dir D] [--build B] [--keep]
#                     [--sessions 1,10] [--sizes "2 KB"] [--idle N]
#        bench/run.sh --inbound [the options above]    (only the first table)
#        bench/run.sh --outbound [--dests 10,50] [--messages M] [--repeat N]
#                     [--queue-workers N] [--keep]     (only the second table)
#        bench/run.sh --policy [--seconds S] [--sessions 10,50] [--sizes "2 KB"]
#                     [--repeat N] [--keep]            (only the third table)
# In a full run --seconds, --repeat, --dir, --build and --keep apply to every
# table that has them; --sessions, --sizes and --idle to the inbound table
# only (the policy table keeps its 10,50 sessions).
# Env: POCHTA_BUILD (default build/), BENCH_DIR (default /var/tmp: must be a
# real disk, since fsync on tmpfs costs nothing), BENCH_SECONDS, BENCH_REPEAT,
# BENCH_OUT_MESSAGES (outbound messages per run, default 2000).
set -eu
cd "$(dirname "$0")/.."

for a in "$@"; do
    case $a in -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d' | cut -c3-; exit 0 ;; esac
done

fail() { echo "bench/run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root: Postfix's master must start as root (it drops to user postfix)"
BUILD=${POCHTA_BUILD:-build}
[ -x "$BUILD/pochtad" ] && [ -x "$BUILD/pochta" ] || fail "no $BUILD/pochtad; run make first"
for tool in postfix postconf smtp-source smtp-sink nsd unshare mount; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || fail "$tool missing; run scripts/deps.sh --bench"
done
[ -f /etc/postfix/master.cf ] || fail "/etc/postfix/master.cf missing (the template for the bench's own copy)"
getent passwd postfix >/dev/null || fail "user postfix missing; reinstall the postfix package"

# 1,000 idle connections need more descriptors than the usual soft limit of
# 1,024, in pochtad and in the client holding them (both inherit this).
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" || fail "cannot raise the open-files limit"

export PYTHONDONTWRITEBYTECODE=1 PATH="/usr/sbin:/sbin:$PATH" POCHTA_BUILD="$BUILD"
case "${1:-}" in
--outbound) shift; exec /usr/bin/python3 bench/outbound.py "$@" ;;
--inbound) shift; exec /usr/bin/python3 bench/bench.py "$@" ;;
--policy) shift; exec /usr/bin/python3 bench/policy_cost.py "$@" ;;
esac
# A full run: the options every table shares reach the other two through the
# environment they read their defaults from (bench.py takes them all).
keep=
prev=
for a in "$@"; do
    case $prev in
    --seconds) export BENCH_SECONDS="$a" ;;
    --repeat) export BENCH_REPEAT="$a" ;;
    --dir) export BENCH_DIR="$a" ;;
    --build) export POCHTA_BUILD="$a" ;;
    esac
    [ "$a" = --keep ] && keep=--keep
    prev=$a
done
/usr/bin/python3 bench/bench.py "$@"
/usr/bin/python3 bench/outbound.py $keep
exec /usr/bin/python3 bench/policy_cost.py $keep

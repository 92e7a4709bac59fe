#!/bin/sh
# bounce_rate.sh - bounces classified per second on one core, and peak memory,
# over the labelled corpus (../shared/corpora/bounces): `pochta bounce parse
# --json` reads every file ROUNDS times in one process pinned to CPU 0; the
# rate is counted against the CPU time used (user + system), so other load on
# the machine does not distort it.
# usage: bench/bounce_rate.sh [BUILD_DIR] [ROUNDS]   (default build, 20)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${2:-20}
CORPUS=../shared/corpora/bounces
[ -x "$BUILD/pochta" ] || { echo "no $BUILD/pochta: build first" >&2; exit 2; }
FILES=$(ls "$CORPUS"/*.eml)
N=$(echo "$FILES" | wc -l)
ARGS=""
i=0
while [ "$i" -lt "$ROUNDS" ]; do ARGS="$ARGS $FILES"; i=$((i + 1)); done
TIMEF=$(mktemp)
trap 'rm -f "$TIMEF"' EXIT
# shellcheck disable=SC2086
/usr/bin/time -f '%U %S %M' -o "$TIMEF" taskset -c 0 "$BUILD/pochta" bounce parse --json $ARGS >/dev/null
read -r USR SYS KB <"$TIMEF"
SECS=$(awk -v u="$USR" -v s="$SYS" 'BEGIN { print u + s }')
TOTAL=$((N * ROUNDS))
awk -v t="$TOTAL" -v s="$SECS" -v kb="$KB" -v n="$N" -v r="$ROUNDS" 'BEGIN {
    rate = (s > 0) ? t / s : 0
    printf "bounce_rate: %d messages (%d files x %d rounds) in %.2f s of CPU time on one core = %.0f bounces/s (target > 5000), peak RSS %.1f MB\n", t, n, r, s, rate, kb / 1024 }'

#!/bin/sh
# dkim_rate.sh - DKIM sign and verify rates of pochta (messages/s, 2 KB and 100 KB
# bodies, RSA-2048 and Ed25519) next to the raw signature rates of `openssl speed`
# on the same machine, as one table with ratios. Issue 4's target: at least 80% of
# the raw rate for 2 KB messages.
#
# Usage: bench/dkim_rate.sh [SECONDS [ROUNDS]]   (env POCHTA_BUILD, default build/)
# The measurement runs in-process through `pochta dkim bench` (static resolver for
# the key record, so verify includes tag parsing, canonicalisation, hashing, key
# decoding and the public-key operation, but no network). Each round runs
# `openssl speed` and then every pochta cell; the table shows the median of the
# rounds (default 3) for both sides, so a noisy neighbour during one round does
# not decide the ratio.
set -eu
SECS=${1:-3}
ROUNDS=${2:-3}
BUILD=${POCHTA_BUILD:-$(dirname "$0")/../build}
POCHTA=$BUILD/pochta
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

"$POCHTA" dkim keygen bench.example --selector bench --type rsa --out "$TMP" >/dev/null 2>&1
mkdir -p "$TMP/ed"
"$POCHTA" dkim keygen bench.example --selector bench --type ed25519 --out "$TMP/ed" >/dev/null 2>&1

# One line per measurement in $TMP/rates: "KEY BODY OP pochta|openssl RATE".
# openssl speed prints "rsa 2048 bits 0.000600s 0.000017s 1666.7 58823.5" and
# "253 bits EdDSA (Ed25519) 0.0000s 0.0001s 22000.0 8000.0".
round=1
while [ "$round" -le "$ROUNDS" ]; do
    openssl speed -seconds "$SECS" rsa2048 ed25519 2>/dev/null | awk '
        /^rsa 2048 bits/ { s = $(NF-1); v = $NF; k = "rsa" }
        /Ed25519\)/      { s = $(NF-1); v = $NF; k = "ed25519" }
        k != "" { for (b = 1; b <= 2; b++) { body = b == 1 ? "2KB" : "100KB"
                  print k, body, "sign", "openssl", s; print k, body, "verify", "openssl", v }; k = "" }' >>"$TMP/rates"
    for key in rsa ed25519; do
        f=$TMP/bench.example.bench.pem
        [ "$key" = ed25519 ] && f=$TMP/ed/bench.example.bench.pem
        for size in 2048 102400; do
            label=$([ "$size" = 2048 ] && echo 2KB || echo 100KB)
            "$POCHTA" dkim bench --key "$f" --size "$size" --seconds "$SECS" |
                awk -v k="$key" -v b="$label" '/^(sign|verify) / { print k, b, $1, "pochta", $2 }' >>"$TMP/rates"
        done
    done
    round=$((round + 1))
done

median() { # KEY BODY OP SIDE: the median rate of the rounds
    awk -v k="$1" -v b="$2" -v o="$3" -v s="$4" '$1 == k && $2 == b && $3 == o && $4 == s { print $5 }' "$TMP/rates" |
        sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf 'median of %s rounds of %s s each\n' "$ROUNDS" "$SECS"
printf '%-8s %-7s %-6s %12s %12s %7s\n' key body op pochta/s openssl/s ratio
for key in rsa ed25519; do
    for label in 2KB 100KB; do
        for op in sign verify; do
            p=$(median "$key" "$label" "$op" pochta)
            o=$(median "$key" "$label" "$op" openssl)
            awk -v k="$key" -v b="$label" -v op="$op" -v p="$p" -v o="$o" \
                'BEGIN { printf "%-8s %-7s %-6s %12.0f %12.0f %6.0f%%\n", k, b, op, p, o, 100 * p / o }'
        done
    done
done

#!/bin/sh
# dkim_rate.sh - DKIM sign and verify rates of pochta (messages/s, 2 KB and 100 KB
# bodies, RSA-2048 and Ed25519) next to the raw signature rates they are built on,
# as one table with ratios. Issue 4's target: at least 80% of the raw rate for
# 2 KB messages.
#
# Usage: bench/dkim_rate.sh [SECONDS [ROUNDS]]   (env POCHTA_BUILD, default build/)
# The measurement runs in-process through `pochta dkim bench` (static resolver for
# the key record, so verify includes tag parsing, canonicalisation, hashing, the
# key lookup and key cache, and the public-key operation, but no network; 16
# verifications in flight on one event loop, as in the daemon). The raw rate is
# taken twice:
#   raw      the bare operation on a ready context (EVP_PKEY_sign/verify, or
#            EVP_DigestSign/Verify for Ed25519, as `openssl speed` calls it), in
#            the same process, in 50 ms slices alternating with pochta's, so the
#            shared machine's changes of speed fall on both sides alike;
#   openssl  `openssl speed` itself, run right before pochta's cells of that
#            algorithm in each round (seconds apart, so noisier).
# Each ratio is the median of the rounds' own ratios; rates are medians too.
set -eu
SECS=${1:-3}
ROUNDS=${2:-3}
BUILD=${POCHTA_BUILD:-$(dirname "$0")/../build}
POCHTA=$BUILD/pochta
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

"$POCHTA" dkim keygen bench.example --selector bench --type rsa --out "$TMP" >/dev/null 2>&1
mkdir -p "$TMP/ed"
"$POCHTA" dkim keygen bench.example --selector bench --type ed25519 --out "$TMP/ed" >/dev/null 2>&1

# One line per measurement in $TMP/rates: "ROUND KEY BODY OP pochta|raw|openssl RATE".
# openssl speed prints "rsa 2048 bits 0.000600s 0.000017s 1666.7 58823.5" and
# "253 bits EdDSA (Ed25519) 0.0000s 0.0001s 22000.0 8000.0"; pochta dkim bench
# prints "sign N", "sign-raw N", "verify N", "verify-raw N".
round=1
while [ "$round" -le "$ROUNDS" ]; do
    for key in rsa ed25519; do
        alg=$([ "$key" = rsa ] && echo rsa2048 || echo ed25519)
        # each output goes to a file first: in a pipeline, set -e would not see a failing command
        openssl speed -seconds "$SECS" "$alg" >"$TMP/out" 2>/dev/null
        awk -v r="$round" -v k="$key" '
            /^rsa 2048 bits/ || /Ed25519\)/ { for (b = 1; b <= 2; b++) { body = b == 1 ? "2KB" : "100KB"
                print r, k, body, "sign", "openssl", $(NF-1); print r, k, body, "verify", "openssl", $NF } }' \
            "$TMP/out" >>"$TMP/rates"
        f=$TMP/bench.example.bench.pem
        [ "$key" = ed25519 ] && f=$TMP/ed/bench.example.bench.pem
        for size in 2048 102400; do
            label=$([ "$size" = 2048 ] && echo 2KB || echo 100KB)
            "$POCHTA" dkim bench --key "$f" --size "$size" --seconds "$SECS" >"$TMP/out"
            awk -v r="$round" -v k="$key" -v b="$label" '
                /^(sign|verify) / { print r, k, b, $1, "pochta", $2 }
                /^(sign|verify)-raw / { sub(/-raw/, "", $1); print r, k, b, $1, "raw", $2 }' "$TMP/out" >>"$TMP/rates"
        done
    done
    round=$((round + 1))
done

median() { # the median of the numbers on standard input
    sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
rates() { # KEY BODY OP SIDE: that cell's rate in each round
    awk -v k="$1" -v b="$2" -v o="$3" -v s="$4" '$2 == k && $3 == b && $4 == o && $5 == s { print $6 }' "$TMP/rates"
}
ratios() { # KEY BODY OP SIDE: pochta/SIDE of each round
    awk -v k="$1" -v b="$2" -v o="$3" -v s="$4" '$2 == k && $3 == b && $4 == o { v[$1, $5] = $6; n[$1] = 1 }
        END { for (r in n) if (v[r, s] > 0) print v[r, "pochta"] / v[r, s] }' "$TMP/rates"
}

printf 'median of %s rounds of %s s each (ratios: median of the rounds\047 ratios)\n' "$ROUNDS" "$SECS"
printf '%-8s %-7s %-6s %10s %10s %6s %10s %6s\n' key body op pochta/s raw/s ratio openssl/s ratio
for key in rsa ed25519; do
    for label in 2KB 100KB; do
        for op in sign verify; do
            p=$(rates "$key" "$label" "$op" pochta | median)
            w=$(rates "$key" "$label" "$op" raw | median)
            o=$(rates "$key" "$label" "$op" openssl | median)
            qw=$(ratios "$key" "$label" "$op" raw | median)
            qo=$(ratios "$key" "$label" "$op" openssl | median)
            awk -v k="$key" -v b="$label" -v op="$op" -v p="$p" -v w="$w" -v o="$o" -v qw="$qw" -v qo="$qo" \
                'BEGIN { printf "%-8s %-7s %-6s %10.0f %10.0f %5.0f%% %10.0f %5.0f%%\n", k, b, op, p, w, 100 * qw, o, 100 * qo }'
        done
    done
done

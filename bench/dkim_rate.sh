#!/bin/sh
# dkim_rate.sh - DKIM sign and verify rates of pochta (messages/s, 2 KB and 100 KB
# bodies, RSA-2048 and Ed25519) next to the raw signature rates of `openssl speed`
# on the same machine, as one table with ratios. Issue 4's target: at least 80% of
# the raw rate for 2 KB messages.
#
# Usage: bench/dkim_rate.sh [SECONDS]   (env POCHTA_BUILD, default /work/main/build)
# The measurement runs in-process through `pochta dkim bench` (static resolver for
# the key record, so verify includes tag parsing, canonicalisation, hashing, key
# decoding and the public-key operation, but no network).
set -eu
SECS=${1:-3}
BUILD=${POCHTA_BUILD:-/work/main/build}
POCHTA=$BUILD/pochta
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

"$POCHTA" dkim keygen bench.example --selector bench --type rsa --out "$TMP" >/dev/null 2>&1
mkdir -p "$TMP/ed"
"$POCHTA" dkim keygen bench.example --selector bench --type ed25519 --out "$TMP/ed" >/dev/null 2>&1

# openssl speed: "rsa 2048 bits 0.000600s 0.000017s 1666.7 58823.5" and
# "253 bits EdDSA (Ed25519) 0.0000s 0.0001s 22000.0 8000.0"
openssl speed -seconds "$SECS" rsa2048 ed25519 >"$TMP/speed" 2>/dev/null
RSA_SIGN=$(awk '/^rsa 2048 bits/ {print $(NF-1)}' "$TMP/speed")
RSA_VERIFY=$(awk '/^rsa 2048 bits/ {print $NF}' "$TMP/speed")
ED_SIGN=$(awk '/Ed25519\)/ {print $(NF-1)}' "$TMP/speed")
ED_VERIFY=$(awk '/Ed25519\)/ {print $NF}' "$TMP/speed")

printf '%-8s %-7s %-6s %12s %12s %7s\n' key body op pochta/s openssl/s ratio
for key in rsa ed25519; do
    if [ "$key" = rsa ]; then f=$TMP/bench.example.bench.pem; rs=$RSA_SIGN; rv=$RSA_VERIFY
    else f=$TMP/ed/bench.example.bench.pem; rs=$ED_SIGN; rv=$ED_VERIFY; fi
    for size in 2048 102400; do
        out=$("$POCHTA" dkim bench --key "$f" --size "$size" --seconds "$SECS")
        s=$(echo "$out" | awk '/^sign/ {print $2}')
        v=$(echo "$out" | awk '/^verify/ {print $2}')
        label=$([ "$size" = 2048 ] && echo 2KB || echo 100KB)
        awk -v k="$key" -v b="$label" -v s="$s" -v v="$v" -v rs="$rs" -v rv="$rv" 'BEGIN {
            printf "%-8s %-7s %-6s %12.0f %12.0f %6.0f%%\n", k, b, "sign", s, rs, 100 * s / rs
            printf "%-8s %-7s %-6s %12.0f %12.0f %6.0f%%\n", k, b, "verify", v, rv, 100 * v / rv }'
    done
done

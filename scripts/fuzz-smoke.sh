#!/bin/sh
# fuzz-smoke.sh - build every libFuzzer target (clang, ASan+UBSan) and run
# each for FUZZ_SECONDS (default 5) starting from its committed corpus in
# fuzz/corpus/NAME/. New inputs go to a temp dir, so the repo is not
# touched; a crash fails the run and leaves the crashing input in build-fuzz/.
set -eu
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
SECONDS_EACH=${FUZZ_SECONDS:-5}

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DPOCHTA_FUZZ=ON >/dev/null
targets=$(ls fuzz/fuzz_*.c | sed 's|fuzz/||; s|\.c$||')
# shellcheck disable=SC2086
cmake --build build-fuzz -j"$JOBS" --target $targets

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $targets; do
    mkdir -p "$work/$t"
    (cd build-fuzz && ./"$t" -max_total_time="$SECONDS_EACH" -print_final_stats=0 \
        "$work/$t" "../fuzz/corpus/$t" >"$work/$t.log" 2>&1) || {
        tail -40 "$work/$t.log"
        echo "fuzz-smoke: $t FAILED" >&2
        exit 1
    }
    echo "fuzz-smoke: $t ok"
done

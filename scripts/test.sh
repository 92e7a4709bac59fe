#!/bin/sh
# test.sh - everything `make test` runs: both builds, the banned-function
# check, unit tests (CTest) in both builds, a short run of every fuzz
# target from its corpus (scripts/fuzz-smoke.sh), and the integration tests
# (pytest, real daemon, real DNS server, real clients) against the
# AddressSanitizer/UBSan build so memory errors fail the run.
set -eu
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPOCHTA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"

scripts/check-banned.sh

(cd build && ctest --output-on-failure -j"$JOBS")
(cd build-asan && ctest --output-on-failure -j"$JOBS")
scripts/fuzz-smoke.sh

POCHTA_BUILD="$PWD/build-asan" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"

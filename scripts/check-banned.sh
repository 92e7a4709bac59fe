#!/bin/sh
# check-banned.sh - fail when project C code calls a banned function
# (house style: unbounded or error-hiding string functions).
set -eu
cd "$(dirname "$0")/.."
pattern='\b(strcpy|strcat|strncpy|sprintf|vsprintf|strtok|atoi|atol|sscanf|gets)[[:space:]]*\('
if grep -rnE "$pattern" src fuzz tests/unit --include='*.c' --include='*.h' | grep -v 'banned-ok'; then
    echo "check-banned: banned functions used (see above)" >&2
    exit 1
fi
echo "check-banned: ok"

#!/bin/bash
# cluster_fuzz_cred.sh - bounded libFuzzer run (20 s) of the credential string parser
# (cl_cred_parse: tokens, node credentials, JWTs): any crash, leak, sanitizer report, a failure
# with a side effect, or an accepted string that does not format back to itself fails.
# timeout: 90
set -u
cd "$(dirname "$0")/../.."
F=build/fuzz/fuzz_cred
if [ ! -x "$F" ]; then
    clang --version >/dev/null 2>&1 || { echo "clang not found: $F cannot be built"; exit 77; }
    make -s "$F" || { echo "cannot build $F"; exit 1; }
fi
corpus=$(mktemp -d /tmp/colossus-fuzz-cred.XXXXXX)
trap 'rm -rf "$corpus"' EXIT
# Seeds: a token, a node credential (all-zero secret and identity), a JWT's shape, garbage.
z=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
printf ' colossus-token-v1.tk-0123456789abcdef.%s.%s\n' $z $z > "$corpus/token"
printf 'colossus-node-v1.nd-fedcba9876543210.%s.%s' $z $z > "$corpus/node"
printf 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl\n' > "$corpus/jwt"
printf 'colossus-key-v1 00ff\n' > "$corpus/garbage"
"$F" -max_total_time=${FUZZ_SECONDS:-20} -timeout=5 -rss_limit_mb=1024 -max_len=8192 \
    -artifact_prefix="$corpus/" "$corpus" 2>&1 | tail -n 5
rc=${PIPESTATUS[0]}
if ls "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* >/dev/null 2>&1; then
    echo "fuzzer found a failing input:"; ls "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* 2>/dev/null
    exit 1
fi
exit $rc

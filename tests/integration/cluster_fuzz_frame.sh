#!/bin/bash
# cluster_fuzz_frame.sh - bounded libFuzzer run (30 s) of the frame decoder: raw wire bytes and
# MAC-valid frames carrying arbitrary protobuf bodies; any crash, leak or sanitizer report fails.
# timeout: 90
set -u
cd "$(dirname "$0")/../.."
F=build/fuzz/fuzz_frame
if [ ! -x "$F" ]; then
    clang --version >/dev/null 2>&1 || { echo "clang not found: $F cannot be built"; exit 77; }
    make -s "$F" || { echo "cannot build $F"; exit 1; }
fi
corpus=$(mktemp -d /tmp/colossus-fuzz-frame.XXXXXX)
trap 'rm -rf "$corpus"' EXIT
# Seeds: a raw garbage line, and a body-mode input holding a heartbeat and a request.
printf '\001GET / HTTP/1.1\r\n' > "$corpus/raw"
printf '\000\062\003\001\002\003\377\376\162\004\040\005' > "$corpus/bodies"
"$F" -max_total_time=${FUZZ_SECONDS:-30} -timeout=5 -rss_limit_mb=1024 \
    -artifact_prefix="$corpus/" "$corpus" 2>&1 | tail -n 5
rc=${PIPESTATUS[0]}
if ls "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* >/dev/null 2>&1; then
    echo "fuzzer found a failing input:"; ls "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* 2>/dev/null
    exit 1
fi
exit $rc

#!/bin/bash
# core_fuzz_topo.sh - bounded libFuzzer run of the Slurm topology.conf reader.
# timeout: 120
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/fuzz/fuzz_topo
if [ ! -x $bin ]; then
    clang --version >/dev/null 2>&1 || { echo "clang not found: $bin cannot be built"; exit 77; }
    echo "fuzz target not built (make build/fuzz/fuzz_topo)"
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz-core/corpus/* "$work/"
# -max_total_time bounds the run; a crash or leak exits non-zero and fails the test.
$bin -max_total_time=${FUZZ_SECONDS:-30} -max_len=4096 -rss_limit_mb=1024 \
     -artifact_prefix="$work/" "$work" 2>&1 | tail -n 5

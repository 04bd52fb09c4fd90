#!/bin/bash
# sim_fuzz_trace.sh - bounded libFuzzer run of the simulator's trace CSV reader.
# timeout: 120
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/fuzz/fuzz_trace
if [ ! -x $bin ]; then
    clang --version >/dev/null 2>&1 || { echo "clang not found: $bin cannot be built"; exit 77; }
    echo "fuzz target not built (make build/fuzz/fuzz_trace)"
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
printf 'job_id,submit_time_s,duration_s,num_gpus,cluster\na,0,600,1,c1\nb,5,1200.5,8,c2\n' \
    >"$work/corpus/a"
printf 'num_gpus,job_id,duration_s,submit_time_s\r\n4,x,10,3\r\n\r\n2,y,1e3,0\r\n' \
    >"$work/corpus/b"
printf '\001job_id,submit_time_s,duration_s,num_gpus,cluster\nq,1,2,64,c1\n' >"$work/corpus/c"
# -max_total_time bounds the run; a crash, an abort (a broken invariant) or a leak exits
# non-zero and fails the test.
$bin -max_total_time=${FUZZ_SECONDS:-20} -max_len=2048 -rss_limit_mb=1024 \
    -artifact_prefix="$work/" "$work/corpus" 2>&1 | tail -n 5

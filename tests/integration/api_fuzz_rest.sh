#!/bin/bash
# api_fuzz_rest.sh - bounded libFuzzer run (20 s) of the REST API's parsers (src/api/rest.c:
# routes, list, watch and service query parameters, submission, drain, token and tenant
# bodies, refusal statuses): any crash, leak, sanitizer report, a refusal that does not say
# why, or an accepted value out of its bounds fails.
# timeout: 90
set -u
cd "$(dirname "$0")/../.."
F=build/fuzz/fuzz_rest
if [ ! -x "$F" ]; then
    clang --version >/dev/null 2>&1 || { echo "clang not found: $F cannot be built"; exit 77; }
    make -s "$F" || { echo "cannot build $F"; exit 1; }
fi
corpus=$(mktemp -d /tmp/colossus-fuzz-rest.XXXXXX)
trap 'rm -rf "$corpus"' EXIT
# Seeds, the first byte choosing the parser (0 route, 1 list, 2 submit, 3 drain, 4 token
# and tenant, 5 status).
printf '\000GET /api/v1/jobs/12/cancel' > "$corpus/route"
printf '\000POST /api/v1/nodes/gpu-0001/drain' > "$corpus/route-node"
printf '\001state=pending,running&limit=50&after=7&all&tenant=a' > "$corpus/list"
printf '\001kinds=jobs,nodes' > "$corpus/watch"
printf '\000GET /api/v1/watch' > "$corpus/route-watch"
printf '\002{"argv":["python3","train.py"],"num_nodes":2,"gpus_per_node":8,"name":"x","env":["A=1"],"priority":5}' > "$corpus/submit"
printf '\003{"reason":"fan"}' > "$corpus/drain"
printf '\000DELETE /api/v1/tokens/tk-0123456789abcdef' > "$corpus/route-token"
printf '\001since=7d&until=2026-11-01T12:00Z&by=day&state=failed&limit=9&rank=3&user=u' > "$corpus/svc"
printf '\004{"user":"ada","scope":"read","expires_in_s":3600}' > "$corpus/token"
printf '\004{"name":"a","shares":2,"quota_gpus":null,"budget_period":"30d","budget_stop":true}' > "$corpus/tenant"
printf '\005no job 12' > "$corpus/status"
"$F" -max_total_time=${FUZZ_SECONDS:-20} -timeout=5 -rss_limit_mb=1024 -max_len=8192 \
    -artifact_prefix="$corpus/" "$corpus" 2>&1 | tail -n 5
rc=${PIPESTATUS[0]}
if ls "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* "$corpus"/oom-* >/dev/null 2>&1; then
    echo "fuzzer found a failing input:"
    ls "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* "$corpus"/oom-* 2>/dev/null
    exit 1
fi
exit $rc

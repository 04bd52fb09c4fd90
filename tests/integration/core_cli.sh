#!/bin/bash
# core_cli.sh - the topo and bench commands: output, and clear refusal of bad input.
# timeout: 120
set -euo pipefail
bin=${COLOSSUS_BIN:-bin/colossus}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$($bin topo --preset colossus2 --json)
[[ $out == *'"nodes":550000'* && $out == *'"gpus":1100000'* && $out == *'"pods":135'* ]] ||
    fail "colossus2 preset: $out"

printf 'SwitchName=l1 Nodes=g[01-04]\nSwitchName=l2 Nodes=g[05-08]\nSwitchName=s Switches=l[1-2]\n' >"$work/ok.conf"
out=$($bin topo --topology "$work/ok.conf" --gpus-per-node 4 --json)
[[ $out == *'"nodes":8'* && $out == *'"gpus":32'* && $out == *'"leaves":2'* && $out == *'"pods":1'* ]] ||
    fail "topology.conf: $out"

printf 'SwitchName=l1 Nodes=g[01-04]\nSwitchName=l2 Nodes=g[05-x]\n' >"$work/bad.conf"
if err=$($bin topo --topology "$work/bad.conf" 2>&1); then fail "bad file accepted"; fi
[[ $err == *"bad.conf:2: bad range"* ]] || fail "bad file message: $err"
set +e
$bin topo --nodes -5 >/dev/null 2>&1; [ $? -eq 2 ] || fail "negative --nodes not refused"
$bin topo --preset nope >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown preset not refused"
$bin bench sched --load 7 >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --load not refused"
$bin bench frob >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown benchmark not refused"
set -e

# The benchmark's JSON has every key the issue names (small machine, small queue).
json=$($bin bench sched --preset hgx --pending 20000 --json | tail -n 1)
for k in nodes gpus pending_jobs build_ms rss_mb decisions_per_s p50_us_8 p99_us_8 \
         p99_us_1024 p99_us_16384 p99_us_131072 pass_ms scaling_ratio; do
    [[ $json == *"\"$k\":"* ]] || fail "bench JSON lacks $k: $json"
done
/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["pending_jobs"]==20000, d; assert d["decisions_per_s"]>0' "$json" ||
    fail "bench JSON: $json"
echo "ok"

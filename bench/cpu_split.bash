#!/bin/bash
# cpu_split.bash - where a trivial job's CPU goes on the loopback cluster of bench/cluster.bash
# (a controller, 4 agents x 8 fake GPUs): CPU microseconds a job of the controller, of the
# agents and of the ranks (the agents' reaped children: `true` each), from /proc over one
# `cluster_client N` run (N + N/10 jobs: its pipelined and its serial part). CPU time, not the
# job rate, so that two trees can be compared on a machine whose load moves the rate by tens
# of percent (docs/benchmarks.md, issue 11). Prints one JSON object.
#   [TREE=DIR] bash bench/cpu_split.bash [N]   (N: 5000; TREE: the checkout to measure, this
#                                         one by default, after
#                                         make all build/bench/cluster_client)
# PERF=ctl or PERF=agents records that side with perf into $TMPDIR/cpu_split.perf.data.
root=${TREE:-$(cd "$(dirname "$0")/.." && pwd)} # TREE: another checkout's build
N=${1:-5000}
. "$root/tests/integration/cluster_lib.bash"
scratch=${BENCH_SCRATCH:-}
[ -z "$scratch" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && scratch=/dev/shm
S=$(mktemp -d "${scratch:-$T}/cl-cpu.XXXXXX") || fail "no scratch directory"
EXTRA_DIRS=$S
AGENT_ROOT=$S/agents
CLIENT=$root/build/bench/cluster_client
[ -x "$CLIENT" ] || fail "$CLIENT is missing: make build/bench/cluster_client"
start_controller --nodes 8 --gpus-per-node 8 --checkpoint-dir "$S/checkpoints" >/dev/null
for i in 1 2 3 4; do start_agent "n$i" 8; done
wait_nodes_up 4 >/dev/null
cd "$S"
ticks() { awk -v a="$2" -v b="$3" '{print $a + $b}' "/proc/$1/stat"; }
sum() { local s=0 p; for p in "${AGENT_PID[@]}"; do s=$((s + $(ticks "$p" "$1" "$2"))); done; echo $s; }
c0=$(ticks "$CTL_PID" 14 15) a0=$(sum 14 15) k0=$(sum 16 17)
if [ -n "${PERF:-}" ]; then
    pids=$CTL_PID
    [ "$PERF" = agents ] && pids=$(IFS=,; echo "${AGENT_PID[*]}")
    perf record -g -p "$pids" -o "${TMPDIR:-/tmp}/cpu_split.perf.data" 2>/dev/null &
    PP=$!
    sleep 0.5
fi
out=$("$CLIENT" "$CTL_ADDR" "$T/key" "$N") || fail "cluster_client"
[ -n "${PERF:-}" ] && { kill -INT "$PP"; wait "$PP"; }
c1=$(ticks "$CTL_PID" 14 15) a1=$(sum 14 15) k1=$(sum 16 17)
python3 - "$out" $((N + N / 10)) "$(getconf CLK_TCK)" "$c0" "$c1" "$a0" "$a1" "$k0" "$k1" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); jobs = int(sys.argv[2]); tick = float(sys.argv[3])
c0, c1, a0, a1, k0, k1 = map(int, sys.argv[4:10])
us = lambda a, b: round((b - a) / tick / jobs * 1e6, 1)
print(json.dumps({"bench": "cpu_split", "jobs": jobs, "completed_per_s": d["completed_per_s"],
                  "ctl_us_per_job": us(c0, c1), "agents_us_per_job": us(a0, a1),
                  "ranks_us_per_job": us(k0, k1)}))
PY

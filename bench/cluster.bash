#!/bin/bash
# cluster.bash - issue 3's benchmark of the real cluster on 127.0.0.1: a controller and 4
# agents x 8 fake GPUs (real processes for every rank), then
#   1. 200 trivial 1-GPU jobs (`true`) through the CLI, a `colossus submit` process each;
#   2. N trivial jobs through the client library (bench/cluster_client.c): acknowledged/s and
#      completed/s (first submission to last job ended), with the cluster key and again with a
#      user's token (issue 11: the token must not cost more than 5% of the job rate), and the
#      time of a connection with its handshake and one request, for each credential;
#   3. 20 gangs of 4 nodes x 8 GPUs: submission to all 32 ranks running, as the controller
#      records it (running_time: the last agent said every rank of its node has exec'd), and
#      as the ranks see it (each rank, `sh -c date`, writes the time it ran).
# Prints one JSON object on stdout (progress on stderr). Run: make bench-cluster, or
#   bash bench/cluster.bash [N]          (N defaults to 5000)
# Layout, as on a real cluster: the controller's journal (SQLite, fdatasync per commit) in
# $TMPDIR (default /tmp, a disk); the nodes' scratch (agents' work dirs and rank logs, the
# jobs' working directory) and the checkpoint root in BENCH_SCRATCH, default /dev/shm where it
# exists (node-local fast storage). BENCH_SCRATCH=/tmp puts everything on the disk; on this
# project's VMs that file system (ext4 without a journal) makes every file creation slow
# (docs/benchmarks.md).
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-5000}
scratch=${BENCH_SCRATCH:-}
[ -z "$scratch" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && scratch=/dev/shm
S=$(mktemp -d "${scratch:-$T}/cl-bench-scratch.XXXXXX") || fail "no scratch directory"
EXTRA_DIRS=$S
AGENT_ROOT=$S/agents
CLIENT=${CLUSTER_CLIENT:-$root/build/bench/cluster_client}
[ -x "$CLIENT" ] || fail "$CLIENT is missing: run make bench-cluster"
say() { echo "$*" >&2; }
now() { date +%s.%N; }

start_controller --nodes 8 --gpus-per-node 8 --checkpoint-dir "$S/checkpoints"
for i in 1 2 3 4; do start_agent "n$i" 8 ${BENCH_AGENT_ARGS:-}; done
wait_nodes_up 4
cd "$S"
fstype() { stat -f -c %T "$1"; }

say "CLI: 200 trivial jobs"
t0=$(now); ids=""
for i in $(seq 200); do ids="$ids $("$B" submit --gpus-per-node 1 -- true)"; done
t1=$(now)
for id in $ids; do "$B" wait "$id" >/dev/null || fail "job $id"; done
t2=$(now)

say "library: $N trivial jobs with the cluster key"
lib=$("$CLIENT" "$CTL_ADDR" "$T/key" "$N") || fail "library benchmark"
say "library: $N trivial jobs with a user's token"
"$B" tenant add bench >/dev/null || fail "tenant add"
"$B" user add bencher --tenant bench --uid "$(id -u)" --gid "$(id -g)" >/dev/null || fail "user add"
"$B" token create --user bencher --scope submit >"$T/bench.tok" 2>/dev/null || fail "token create"
libtok=$("$CLIENT" "$CTL_ADDR" "$T/bench.tok" "$N") || fail "library benchmark with a token"

say "gang 4x8: 20 gangs"
gang=""
for k in $(seq 20); do
    J=$("$B" submit -N 4 --gpus-per-node 8 -- sh -c 'date +%s.%N > start.$COLOSSUS_JOB_ID.$RANK')
    "$B" wait "$J" >/dev/null || fail "gang $J"
    [ "$(ls start.$J.* | wc -l)" = 32 ] || fail "gang $J: not 32 ranks"
    gang="$gang $("$B" show --json "$J" | python3 -c "
import json, sys, glob
d = json.load(sys.stdin)
last = max(float(open(f).read()) for f in glob.glob('start.$J.*'))
print('%.2f,%.2f' % ((d['running_time'] - d['submit_time']) * 1e3, (last - d['submit_time']) * 1e3))")"
done

python3 - "$t0" "$t1" "$t2" "$lib" "$libtok" "$(fstype "$T")" "$(fstype "$S")" $gang <<'PY'
import json, statistics, sys, os
t0, t1, t2 = map(float, sys.argv[1:4])
lib = json.loads(sys.argv[4])
libtok = json.loads(sys.argv[5])
journal_fs, scratch_fs = sys.argv[6:8]
g = [tuple(map(float, x.split(','))) for x in sys.argv[8:]]
ctl = sorted(x[0] for x in g); rank = sorted(x[1] for x in g)
print(json.dumps({
    "bench": "cluster", "agents": 4, "gpus_per_agent": 8, "cores": os.cpu_count(),
    "journal_fs": journal_fs, "scratch_fs": scratch_fs,
    "cli": {"jobs": 200, "submitted_s": round(t1 - t0, 3), "submits_per_s": round(200 / (t1 - t0)),
            "completed_s": round(t2 - t0, 3), "completed_per_s": round(200 / (t2 - t0))},
    "library": lib,
    "library_token": libtok,
    "token_vs_key": {"completed_per_s": round(libtok["completed_per_s"] / lib["completed_per_s"], 3),
                     "acked_per_s": round(libtok["acked_per_s"] / lib["acked_per_s"], 3),
                     "connect_whoami_ms": round(libtok["connect_whoami_ms"] / lib["connect_whoami_ms"], 3)},
    "gang_4x8": {"gangs": len(g),
                 "running_ms_p50": round(statistics.median(ctl), 1), "running_ms_max": round(ctl[-1], 1),
                 "rank_seen_ms_p50": round(statistics.median(rank), 1), "rank_seen_ms_max": round(rank[-1], 1)},
    "targets": {"library_completed_per_s": 1000, "gang_running_ms_p50": 50,
                "token_vs_key_completed_per_s": 0.95},
}, indent=1))
PY

#!/bin/bash
# run_cmd.sh - `colossus run` as srun: the job's output on the terminal while it runs, its exit
# code as run's (0 when it succeeded), each rank under a header with several, Ctrl-C cancels
# the job and run exits 130 once it has ended; bad usage exits 2 and queues nothing.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"
start_controller
start_agent n1 2
start_agent n2 2
wait_nodes_up 2
cd "$T"

log "1. output and exit code"
rc=0
"$B" run --gpus-per-node 1 -- sh -c 'echo hello; echo oops >&2; exit 3' >o1 2>e1 || rc=$?
[ $rc = 3 ] || fail "run exited $rc, not the job's 3: $(cat o1 e1)"
grep -qx hello o1 && grep -qx oops o1 || fail "the job's output: $(cat o1)"
grep -q "^colossus run: job [0-9]*$" e1 || fail "no job id on stderr: $(cat e1)"
grep -q "failed: rank 0 on n[12] exited with code 3" e1 || fail "no word of the failure: $(cat e1)"
J1=$(sed -n 's/^colossus run: job \([0-9]*\)$/\1/p' e1)
[ "$(job_state "$J1")" = failed ] || fail "job $J1: $(job_state "$J1")"

log "2. two ranks on two nodes, success"
"$B" run -N 2 --gpus-per-node 1 -- sh -c 'echo "from rank $RANK"' >o2 2>e2 || fail "run: $? $(cat e2)"
for r in 0 1; do
    grep -qx "from rank $r" o2 && grep -qx "==> rank $r <==" o2 || fail "rank $r: $(cat o2)"
done

log "3. Ctrl-C cancels the job"
"$B" run --gpus-per-node 1 -- sh -c 'echo started; exec sleep 60' >o3 2>e3 &
R=$!
PIDS+=("$R")
wait_for 20 grep -qx started o3 || fail "the job did not start: $(cat o3 e3)"
kill -INT "$R"
wait_for 20 sh -c "! kill -0 $R 2>/dev/null" || fail "run did not end after Ctrl-C"
rc=0
wait "$R" || rc=$?
[ $rc = 130 ] || fail "run after Ctrl-C exited $rc: $(cat e3)"
J3=$(sed -n 's/^colossus run: job \([0-9]*\)$/\1/p' e3)
[ "$(job_state "$J3")" = cancelled ] || fail "job $J3: $(job_state "$J3")"
grep -q "cancelling job $J3" e3 || fail "no word of the cancel: $(cat e3)"

log "4. bad usage"
n=$("$B" jobs --all --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
rc=0
"$B" run >/dev/null 2>e4 || rc=$?
[ $rc = 2 ] && grep -q "^colossus run: no command given" e4 || fail "run alone: $rc $(cat e4)"
rc=0
"$B" run --nodse 2 -- true >/dev/null 2>e4 || rc=$?
[ $rc = 2 ] || fail "run --nodse: $rc $(cat e4)"
[ "$("$B" jobs --all --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$n" ] ||
    fail "bad usage queued a job"
"$B" run --help | head -1 | grep -q "^usage: colossus run" || fail "run --help"
log ok

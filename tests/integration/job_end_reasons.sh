#!/bin/bash
# job_end_reasons.sh - a finished job says how it ended: a rank killed by a signal names it
# (SIGSEGV), which an exit code of 139 alone does not; a time limit; a failure on another rank
# of a gang; a cancel names who cancelled; a rank over its --mem-per-gpu is out_of_memory
# (where a memory cgroup can be written), in the job, the table and the usage records. The
# agent reports the signal (Exited.signal) and an OOM kill (Exited.oom) beside the exit code.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"
start_controller
start_agent n1 2
wait_nodes_up 1
cd "$T"
reason() { job_field "$1" 'd["reason"]'; }
ended() { "$B" wait "$1" >/dev/null 2>&1; job_state "$1"; }

S=$("$B" submit --gpus-per-node 1 -- sh -c 'kill -SEGV $$')
X=$("$B" submit --gpus-per-node 1 -- sh -c 'exit 139')
A=$("$B" submit --gpus-per-node 1 -- sh -c 'kill -ABRT $$')
L=$("$B" submit --gpus-per-node 1 -t 0:02 -- sleep 60)
[ "$(ended "$S")" = failed ] || fail "job $S: $(job_state "$S")"
[ "$(reason "$S")" = "rank 0 on n1 was killed by SIGSEGV (exit code 139)" ] || fail "job $S: $(reason "$S")"
[ "$(ended "$X")" = failed ] || fail "job $X: $(job_state "$X")"
[ "$(reason "$X")" = "rank 0 on n1 exited with code 139" ] || fail "job $X: $(reason "$X")"
[ "$(ended "$A")" = failed ] || fail "job $A: $(job_state "$A")"
[ "$(reason "$A")" = "rank 0 on n1 was killed by SIGABRT (exit code 134)" ] || fail "job $A: $(reason "$A")"
[ "$(ended "$L")" = failed ] || fail "job $L: $(job_state "$L")"
reason "$L" | grep -q "^time limit of 0.0333.* min reached" || fail "job $L: $(reason "$L")"
"$B" show "$S" | grep -Eq '^  1 .* failed +n1 \(rank 0 on n1 was killed by SIGSEGV' ||
    fail "show $S: $("$B" show "$S")"
"$B" tenant add lab >/dev/null || fail "tenant add"
"$B" user add carol --tenant lab --uid 0 --gid 0 >/dev/null || fail "user add"
"$B" token create --user carol >carol.tok 2>/dev/null || fail "token create"
C1=$("$B" submit --token carol.tok --gpus-per-node 1 -- sleep 60)
C2=$("$B" submit --token carol.tok --gpus-per-node 1 -- sleep 60)
"$B" cancel --token carol.tok "$C1" >/dev/null || fail "cancel $C1"
"$B" cancel "$C2" >/dev/null || fail "cancel $C2 with the key"
[ "$(reason "$C1")" = "cancelled by carol" ] || fail "job $C1: $(reason "$C1")"
[ "$(reason "$C2")" = "cancelled by cluster key" ] || fail "job $C2: $(reason "$C2")"
# the distinct end (Slurm's TIMEOUT, ...): "ended" in --json, and the table's STATE column
[ "$(job_field "$L" 'd["ended"]')" = timeout ] || fail "job $L ended: $(job_field "$L" 'd["ended"]')"
[ "$(job_field "$S" 'd["ended"]')" = failed ] || fail "job $S ended: $(job_field "$S" 'd["ended"]')"
[ "$(job_field "$C1" 'd["ended"]')" = cancelled ] || fail "job $C1 ended: $(job_field "$C1" 'd["ended"]')"
"$B" jobs --all | awk -v id="$L" '$1 == id {print $4}' | grep -qx timeout ||
    fail "jobs: job $L's STATE: $("$B" jobs --all | grep "^$L ")"
"$B" show "$L" | grep -q "^ended: *timeout" || fail "show $L: $("$B" show "$L")"
if [ -w /sys/fs/cgroup/memory/cgroup.procs ] || grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    M=$("$B" submit --gpus-per-node 1 --mem-per-gpu 32M --max-restarts 0 -- \
        python3 -c 'x = bytearray(256 << 20)')
    [ "$(ended "$M")" = failed ] || fail "job $M: $(job_state "$M")"
    [ "$(job_field "$M" 'd["ended"]')" = out_of_memory ] || fail "job $M ended: $(job_field "$M" 'd["ended"]')"
    [ "$(reason "$M")" = "out of memory (limit 32 MB): rank 0 on n1 was OOM-killed" ] ||
        fail "job $M: $(reason "$M")"
    "$B" jobs --all | awk -v id="$M" '$1 == id {print $4}' | grep -qx out_of_memory ||
        fail "jobs: job $M's STATE: $("$B" jobs --all | grep "^$M ")"
    wait_for 40 bash -c "\"$B\" history --state out_of_memory | grep -q '^$M '" ||
        fail "history --state out_of_memory: $("$B" history --state out_of_memory)"
else
    log "skip the OOM case: no memory cgroup controller is writable here"
fi
log "ok: $(reason "$S"); $(reason "$A"); $(reason "$L"); $(reason "$C1")"

#!/bin/bash
# master_port.sh - no two jobs whose rank 0 is on the same node get the same MASTER_PORT: a
# run's first choice (a hash of job and incarnation in --master-ports) moves on to the next
# free port when another job there has it, and a controller killed with -9 learns the ports
# in use from the agents' registrations (RunningJob.master_port), not from the hash. The range
# is 64 ports here, so jobs 1, 65 and 129 (incarnation 1) have the same first choice.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
ARGS=(--master-ports 20000-20063)
start_controller "${ARGS[@]}"
start_agent n1 3
wait_nodes_up 1
cd "$T"
first() { echo $((20000 + ($1 * 7919 + 104729) % 64)); }
[ "$(first 1)" = "$(first 65)" ] && [ "$(first 1)" = "$(first 129)" ] || fail "the test's premise"
held() { # ID: a job that writes its MASTER_PORT and runs until $T/go.ID exists
    "$B" submit --gpus-per-node 1 -- sh -c "echo \$MASTER_PORT >'$T/port.$1'; while [ ! -e '$T/go.$1' ]; do sleep 0.05; done"
}
fill_to() { # submit trivial jobs until the next id is $1
    local id last
    while :; do
        id=$("$B" submit --gpus-per-node 1 -- true) || fail "submit"
        last=$id
        [ $((id + 1)) -ge "$1" ] && break
    done
    "$B" wait "$last" >/dev/null || fail "job $last"
}

A=$(held 1)
[ "$A" = 1 ] || fail "the first job is $A, not 1"
wait_for 20 test -s port.1 || fail "job 1 did not start"
fill_to 65
B65=$(held 65)
[ "$B65" = 65 ] || fail "job $B65, not 65"
wait_for 20 test -s port.65 || fail "job 65 did not start"
pA=$(cat port.1) pB=$(cat port.65)
log "job 1 got $pA, job 65 got $pB (first choice of both: $(first 1))"
[ "$pA" = "$(first 1)" ] || fail "job 1: $pA, not its first choice"
[ "$pB" != "$pA" ] || fail "jobs 1 and 65 share MASTER_PORT $pA on n1"
[ "$pB" -ge 20000 ] && [ "$pB" -le 20063 ] || fail "job 65's port $pB is outside --master-ports"

log "the controller is killed and comes back: it learns the ports from the agent"
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
start_controller "${ARGS[@]}"
wait_nodes_up 1
fill_to 129
C=$(held 129)
[ "$C" = 129 ] || fail "job $C, not 129"
wait_for 20 test -s port.129 || fail "job 129 did not start"
pC=$(cat port.129)
log "job 129 got $pC"
[ "$pC" != "$pA" ] && [ "$pC" != "$pB" ] || fail "job 129 got $pC: jobs 1 ($pA) and 65 ($pB) run there"
[ "$(job_state 1)" = running ] && [ "$(job_state 65)" = running ] || fail "jobs 1 and 65 should still run"
touch go.1 go.65 go.129
for j in 1 65 129; do "$B" wait "$j" >/dev/null || fail "job $j: $(job_state $j)"; done

log "bad --master-ports"
for bad in 20000-20010 80-1000 30000-20000 20000 20000-70000 2e4-3e4; do
    rc=0
    "$B" controller --state-dir "$T/bad" --listen 127.0.0.1:0 --key "$T/key" --master-ports "$bad" \
        >bad.out 2>&1 || rc=$?
    [ $rc = 2 ] && grep -q -- "--master-ports $bad: want LO-HI" bad.out || fail "--master-ports $bad: exit $rc $(cat bad.out)"
done
log ok

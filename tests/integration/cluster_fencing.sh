#!/bin/bash
# cluster_fencing.sh - partition and fencing: an agent stopped (SIGSTOP) longer than
# dead-after is declared down and its job restarted elsewhere with a new incarnation; its
# stale ranks are frozen by the node's lease meanwhile (they cannot run on, nor succeed), and
# when it resumes (SIGCONT) they are killed, never thawed, and never reported as success.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 8 --gpus-per-node 2
for i in 1 2 3; do start_agent "n$i" 2; done
wait_nodes_up 3
cd "$T"

log "stale ranks of a partitioned node are stopped when it returns"
A=$("$B" submit -N 2 --gpus-per-node 2 -- sh -c 'echo $$ > t.$COLOSSUS_RESTART.$RANK && mv t.$COLOSSUS_RESTART.$RANK a.$COLOSSUS_RESTART.$RANK; exec sleep 60')
wait_for 10 bash -c 'ls a.0.* 2>/dev/null | wc -l | grep -qx 4' || fail "job A did not start"
victim=$(job_field "$A" 'd["nodes"][1]')   # node rank 1 holds ranks 2 and 3
stale=$(echo $(cat a.0.2 a.0.3))
log "SIGSTOP $victim (ranks $stale keep running)"
kill -STOP "${AGENT_PID[$victim]}"
wait_for 10 grep -q "node $victim declared down" controller.log || fail "not declared down"
wait_for 10 bash -c 'ls a.1.* 2>/dev/null | wc -l | grep -qx 4' || fail "job A not restarted"
[ "$(job_field "$A" 'd["incarnation"]')" = 2 ] || fail "incarnation != 2"
for p in $stale; do kill -0 "$p" || fail "stale rank $p died before the agent returned (test premise)"; done
kill -CONT "${AGENT_PID[$victim]}"
t0=$SECONDS
wait_for 10 bash -c "for p in $stale; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0" ||
    fail "stale ranks $stale still run after the agent returned"
log "stale ranks stopped $((SECONDS - t0)) s after SIGCONT"
# back on its connection, or (its agent found the controller silent for dead-after: it
# had been stopped) on a new one
grep -Eq "node $victim (is back after being declared down|registered as .* 1 launches held)" controller.log ||
    fail "return not logged"
[ "$(job_state "$A")" = running ] && [ "$(job_field "$A" 'd["incarnation"]')" = 2 ] || fail "job A disturbed"
"$B" cancel "$A" || fail "cancel A"
wait_nodes_up 3

log "a stale run cannot run on while partitioned: frozen by its lease, then killed"
# Each rank writes its pid to b.RESTART.RANK; incarnation 1 would write b.ok.RANK and exit 0
# once the test creates "succeed", incarnation 2 exits 7 once it creates "fail".
B_=$("$B" submit -N 2 --gpus-per-node 2 -- sh -c 'echo $$ > t.b$COLOSSUS_RESTART.$RANK && mv t.b$COLOSSUS_RESTART.$RANK b.$COLOSSUS_RESTART.$RANK
    if [ "$COLOSSUS_RESTART" = 0 ]; then while [ ! -e succeed ]; do sleep 0.05; done; touch b.ok.$RANK; exit 0; fi
    while [ ! -e fail ]; do sleep 0.05; done; exit 7')
wait_for 10 bash -c 'ls b.0.* 2>/dev/null | wc -l | grep -qx 4' || fail "job B did not start"
victim=$(job_field "$B_" 'd["nodes"][0]') # node rank 0 holds ranks 0 and 1
stale=$(echo $(cat b.0.0 b.0.1))
kill -STOP "${AGENT_PID[$victim]}"
wait_for 10 bash -c 'ls b.1.* 2>/dev/null | wc -l | grep -qx 4' || fail "job B not restarted"
[ "$(job_field "$B_" 'd["incarnation"]')" = 2 ] || fail "job B: incarnation != 2"
# their cgroup is frozen (cgroup v2; without one their process groups are SIGSTOPped)
for p in $stale; do
    cg=/sys/fs/cgroup/unified$(sed -n 's/^0:://p' /proc/$p/cgroup)
    if [ -f "$cg/cgroup.events" ]; then
        grep -q "^frozen 1" "$cg/cgroup.events" || fail "stale rank $p is not frozen: $(cat "$cg/cgroup.events")"
    else
        [ "$(ps -o stat= -p "$p" | cut -c1)" = T ] || fail "stale rank $p is not stopped"
    fi
done
touch succeed
sleep 0.5 # what a stale rank would do with it, it would have done by now
ls b.ok.* 2>/dev/null && fail "a stale rank ran on and succeeded"
kill -CONT "${AGENT_PID[$victim]}"
wait_for 10 grep -q "job $B_: ignoring exit 137 of stale incarnation 1" controller.log ||
    fail "the stale run was not killed (SIGKILL, never thawed) and its exit ignored"
ls b.ok.* 2>/dev/null && fail "a stale rank was thawed and succeeded"
[ "$(job_state "$B_")" = running ] && [ "$(job_field "$B_" 'd["incarnation"]')" = 2 ] ||
    fail "job B after the stale run: $(job_state "$B_"), incarnation $(job_field "$B_" 'd["incarnation"]')"
touch fail
"$B" wait "$B_" --timeout 30 && fail "job B reported success"
[ "$(job_state "$B_")" = failed ] && [ "$(job_field "$B_" 'd["exit_code"]')" = 7 ] ||
    fail "job B: state $(job_state "$B_"), exit $(job_field "$B_" 'd["exit_code"]'), expected failed/7"
log "PASS"

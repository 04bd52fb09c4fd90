#!/bin/bash
# relay_hang.sh - a relay whose host hangs (SIGSTOP: no FIN, its connection stays open) under a
# running job (issue 16): its agents stop getting acks, leave it when their lease ends
# (2.25 s here: heartbeat 0.2 s, dead-after 3 s) and register straight with the controller,
# before the controller's deadline for the relay's connection (dead-after after its last
# frame) would take their nodes down. No node is declared down, the job keeps running (0
# restarts), and when that deadline passes the controller says the relay's nodes had gone
# elsewhere.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"

DEAD_MS=3000
start_controller --nodes 4 --gpus-per-node 2
CTL=$CTL_ADDR
cd "$T"
start_relay r1
for a in a1 a2; do CTL_ADDR="$R_r1,$CTL" start_agent $a 2; done
wait_nodes_up 2 20
via_of() { "$B" nodes --json | jfield "{n['name']: n['via'] for n in d}.get('$1')"; }
[ "$(via_of a1)" = r1 ] && [ "$(via_of a2)" = r1 ] || fail "a1, a2 not via r1"
J=$("$B" submit -N 2 --gpus-per-node 2 --ntasks-per-node 1 -- bash -c \
    "while [ ! -e $T/stop ]; do echo . >> $T/ticks.\$RANK; sleep 0.1; done") || fail "submit"
wait_state "$J" running 20 || fail "the job did not start"
wait_for 10 bash -c "[ -s $T/ticks.0 ] && [ -s $T/ticks.1 ]" || fail "not every rank ticks"

log "r1 hangs (SIGSTOP) under the job"
t0=$(date +%s.%N)
kill -STOP "$RPID_r1"
wait_for 10 bash -c "[ \"\$(\"$B\" nodes --json | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n[\"connected\"] and not n[\"via\"]))')\" = 2 ]" ||
    fail "a1, a2 did not register straight: $("$B" nodes)"
t1=$(date +%s.%N)
wait_for 10 grep -q "relay connection .*; its nodes had gone through other paths" controller.log ||
    fail "the controller did not judge r1's connection: $(tail -3 controller.log)"
! grep -q "declared down" controller.log || fail "a node was declared down: $(grep 'declared down' controller.log)"
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] && [ "$(job_state "$J")" = running ] ||
    fail "the job: $(job_state "$J"), $(job_field "$J" 'd["restarts"]') restarts"
grep -q "(the lease): trying the next address" agent-a1.log || fail "a1 did not leave r1 at its lease's end"
n0=$(cat ticks.* | wc -l)
sleep 1
[ $(($(cat ticks.* | wc -l) - n0)) -ge 10 ] || fail "the ranks do not tick after re-parenting (frozen?)"
log "a1, a2 registered straight $(python3 -c "print(f'{$t1 - $t0:.2f}')") s after r1 hung (lease 2.25 s, dead-after 3 s): 0 declared down, 0 restarts, the ranks tick"
kill -CONT "$RPID_r1"
touch "$T/stop"
"$B" wait "$J" --timeout 20 || fail "the job did not succeed: $(job_state "$J")"
log "PASS"

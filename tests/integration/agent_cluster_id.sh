#!/bin/bash
# agent_cluster_id.sh - a controller started on an empty state dir (another cluster identity)
# at the address of the cluster's controller must not kill the cluster's work: the agent,
# running a long job, refuses it (one loud log line), the job's rank keeps running and nothing
# is fenced, though that controller tries; when the original controller comes back (its state
# dir), the agent registers, the job is reconciled and finishes. A hollow agent (one file for
# its nodes) running a 2-node gang does the same.
# Needs a controller that sends its cluster id (Registered.cluster_id): skipped (77) when the
# controller sends 0, which the agent says when it registers.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"

ALOG=$T/agent-n1.log
CTL_ARGS=(--nodes 4 --gpus-per-node 2)
STATE_DIR=$T/state start_controller "${CTL_ARGS[@]}"
ADDR=$CTL_ADDR
start_agent n1 1
wait_nodes_up 1
wait_for 10 grep -Eq "agent: (joined cluster [0-9a-f]{16}|the controller at .* sends no cluster id)" "$ALOG" ||
    fail "the agent said nothing of the controller's cluster id"
if grep -q "sends no cluster id" "$ALOG"; then
    echo "the controller does not send a cluster id yet (Registered.cluster_id is 0)"
    exit 77
fi
ID=$(sed -n 's/.*agent: joined cluster \([0-9a-f]\{16\}\) of the controller at.*/\1/p' "$ALOG" | head -n 1)
[ "$(cat "$T/agents/n1/cluster-id")" = "$ID" ] || fail "WORK/cluster-id: $(cat "$T/agents/n1/cluster-id")"
log "the agent joined cluster $ID"
cd "$T"

J=$("$B" submit --gpus-per-node 1 --name long -- \
    sh -c 'echo $$ > rank.pid; exec sh -c "while [ ! -e stop ]; do sleep 0.1; done"') || fail "submit"
wait_state "$J" running 20 || fail "job $J not running: $(job_state "$J")"
wait_for 10 test -s rank.pid || fail "the rank did not start"
RANK_PID=$(cat rank.pid)
kill -0 "$RANK_PID" || fail "no rank process $RANK_PID"

# The hollow nodes have 2 GPUs each, n1 one: the gang can only go to them.
HLOG=$T/agent-hs.log
"$B" agent --controller "$ADDR" --key "$T/key" --name hs --work-dir "$T/agents/hs" \
    --fake-gpus 2 --hollow 2 --hollow-run-ms 600000 >>"$HLOG" 2>&1 &
AGENT_PID[hs]=$!
wait_nodes_up 3
H=$("$B" submit -N 2 --gpus-per-node 2 --name gang -- train) || fail "submit the gang"
wait_state "$H" running 20 || fail "gang $H not running: $(job_state "$H")"
[ "$(cat "$T/agents/hs/cluster-id")" = "$ID" ] || fail "the hollow agent's cluster id"

log "the controller stops; another one starts at $ADDR on an empty state dir"
kill "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
CTL_PID=
mv controller.log controller-1.log
CTL_ADDR=$ADDR STATE_DIR=$T/state-new start_controller "${CTL_ARGS[@]}"
# Its fence of the agent's stale launch is sent on every try, and never obeyed.
wait_for 20 bash -c '[ "$(grep -c "fencing node n1: job '"$J"' incarnation 1 is stale" controller.log)" -ge 2 ]' ||
    fail "the new controller did not try to fence the agent twice"
grep -q "agent: REFUSING the controller at $ADDR: it is cluster [0-9a-f]\{16\}, but this agent holds 1 launch (1 running) of cluster $ID; their ranks keep running" "$ALOG" ||
    fail "no refusal in the agent's log"
[ "$(grep -c "REFUSING" "$ALOG")" = 1 ] || fail "the refusal was logged $(grep -c REFUSING "$ALOG") times"
wait_for 20 grep -q "fencing node hs-[01]: job $H incarnation 1 is stale" controller.log ||
    fail "the new controller did not try to fence the hollow nodes"
grep -q "agent: REFUSING the controller at $ADDR: it is cluster [0-9a-f]\{16\}, but this agent holds 2 launches (2 running) of cluster $ID" "$HLOG" ||
    fail "no refusal in the hollow agent's log"
kill -0 "$RANK_PID" || fail "the rank was killed"
! grep -q "stopping job $J" "$ALOG" || fail "the agent stopped job $J: $(grep "stopping job" "$ALOG")"
[ "$(cat "$T/agents/n1/cluster-id")" = "$ID" ] || fail "the agent's cluster id changed"
"$B" jobs --all --json | jfield 'len(d)' | grep -qx 0 || fail "the new controller knows jobs"
mv controller.log controller-new.log

log "the original controller comes back"
kill "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
CTL_PID=
CTL_ADDR=$ADDR STATE_DIR=$T/state start_controller "${CTL_ARGS[@]}"
wait_for 20 grep -q "job $J reconciled" controller.log || fail "job $J not reconciled"
wait_for 20 grep -q "job $H reconciled" controller.log || fail "gang $H not reconciled"
[ "$(job_state "$H")" = running ] || fail "gang $H is $(job_state "$H")"
grep -q "agent: the controller at $ADDR is cluster $ID again: accepted" "$ALOG" ||
    fail "the agent did not say it accepts the controller again"
kill -0 "$RANK_PID" || fail "the rank died"
touch stop
"$B" wait "$J" --timeout 30 || fail "job $J did not succeed"
[ "$(job_field "$J" 'd["incarnation"]')" = 1 ] || fail "job $J was relaunched"
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] || fail "a restart was counted"
log "PASS"

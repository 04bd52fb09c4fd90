#!/bin/bash
# cluster_hollow.sh - one connection carrying many nodes: a hollow agent plays 48 nodes with
# batched heartbeats and simulated launches; gangs spanning them run and finish; when the
# connection's agent stops (SIGSTOP) every node it carries is declared down, and all come back
# when it resumes.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 64 --gpus-per-node 8
"$B" agent --controller "$CTL_ADDR" --key "$T/key" --name hollow --work-dir "$T/agents/hollow" \
    --fake-gpus 8 --hollow 48 --hollow-run-ms 300 >> "$T/agent-hollow.log" 2>&1 &
AGENT_PID[hollow]=$!
wait_nodes_up 48 30
[ "$(grep -c 'agent connection from' "$T/controller.log")" = 1 ] || fail "expected one connection"
cd "$T"

log "a 40-node gang and 30 one-node jobs on hollow nodes"
G=$("$B" submit -N 40 --gpus-per-node 8 -- train) || fail "submit gang"
ids=""
for i in $(seq 30); do ids="$ids $("$B" submit --gpus-per-node 2 -- step)"; done
"$B" wait "$G" --timeout 30 || fail "gang on hollow nodes did not succeed"
[ "$(job_field "$G" 'len(d["nodes"])')" = 40 ] || fail "gang not on 40 nodes"
for id in $ids; do "$B" wait "$id" --timeout 30 >/dev/null || fail "job $id"; done

log "the carrying agent stops: all its nodes go down; it resumes: all come back"
kill -STOP "${AGENT_PID[hollow]}"
wait_for 10 bash -c '[ "$(grep -c "declared down" controller.log)" = 48 ]' || fail "not all 48 nodes declared down"
kill -CONT "${AGENT_PID[hollow]}"
wait_nodes_up 48 10
[ "$(grep -c "is back after being declared down" controller.log)" = 48 ] || fail "not all came back"
J=$("$B" submit -N 48 --gpus-per-node 8 -- again) && "$B" wait "$J" --timeout 20 || fail "job after return"
log "PASS"

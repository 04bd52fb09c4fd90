#!/bin/bash
# health_restart.sh - a health drain outlives restarts: after `kill -9` of the controller and a
# restart of the node's agent (whose own latch starts afresh), the node is still drained with
# its reason and health, takes no job, and comes back only through `resume` and a passing check;
# a node whose agent returns without NVML (no check possible) is resumed by the admin alone.
# timeout: 90
. "$(dirname "$0")/health_lib.bash"

start_controller --nodes 4 --gpus-per-node 2
healthy_script a 2
healthy_script b 2
start_nvml_agent a
start_nvml_agent b
wait_nodes_up 2
cd "$T"
xid a 0 64
wait_node a 'n["health"] == "drain-now"' || fail "a: $(node_json a 'n')"
no_events a

log "kill -9 of the controller, restart of a's agent"
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
kill "${AGENT_PID[a]}"
wait "${AGENT_PID[a]}" 2>/dev/null
start_controller --nodes 4 --gpus-per-node 2
start_nvml_agent a
wait_node a 'n["connected"] and n["telemetry"] is not None' 20 || fail "a did not come back: $("$B" nodes)"
wait_node b 'n["connected"] and n["state"] == "up"' 20 || fail "b did not come back"
[ "$(node_json a 'n["state"] + "|" + n["health"]')" = "drained|drain-now" ] || fail "a after restarts: $(node_json a 'n')"
node_json a 'n["reason"]' | grep -q "XID 64" || fail "reason lost: $(node_json a 'n["reason"]')"
J=$("$B" submit -N 2 --gpus-per-node 2 -- true) || fail submit
# K, submitted after J, runs on b alone: the scheduling passes that placed it (J, ahead of it
# in the queue, cannot run, so K goes past it) came after J's submission, and left J pending.
K=$("$B" submit -N 1 --gpus-per-node 2 -- true) || fail submit
"$B" wait "$K" --timeout 20 || fail "job $K, behind the blocked $J: $("$B" show "$K" --json)"
[ "$(job_state "$J")" = pending ] || fail "a 2-node job started with a drained: $("$B" show "$J" --json)"
"$B" resume a >out.txt || fail "resume: $(cat out.txt)"
grep -q "gpu check passed; resumed" out.txt || fail "resume without a check: $(cat out.txt)"
"$B" wait "$J" --timeout 20 || fail "job $J"
log "a latched node whose agent comes back without NVML: the admin's resume clears it"
xid b 1 79
wait_node b 'n["health"] == "drain-now" and n["state"] == "drained"' || fail "b: $(node_json b 'n')"
kill "${AGENT_PID[b]}"
wait "${AGENT_PID[b]}" 2>/dev/null
start_agent b 2
wait_node b 'n["connected"] and not n["monitored"]' 20 || fail "b did not come back as a fake-GPU node"
[ "$(node_json b 'n["state"] + "|" + n["health"]')" = "drained|drain-now" ] || fail "b: $(node_json b 'n')"
"$B" resume b >/dev/null || fail "resume b"
wait_node b 'n["state"] == "up" and n["health"] is None' || fail "b after resume: $(node_json b 'n')"
log "health_restart: ok"

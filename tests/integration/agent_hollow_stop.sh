#!/bin/bash
# agent_hollow_stop.sh - a hollow agent told to stop (SIGTERM) while its simulated launches run
# ends them all and exits 0 with its closing log line (the hollow backend ends a launch from
# within its stop, which once made the agent close its handles twice and abort).
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 16 --gpus-per-node 8
"$B" agent --controller "$CTL_ADDR" --key "$T/key" --name hs --work-dir "$T/agents/hs" \
    --fake-gpus 8 --hollow 8 --hollow-run-ms 60000 >>"$T/agent-hs.log" 2>&1 &
AGENT_PID[hs]=$!
wait_nodes_up 8 20
cd "$T"

log "an 8-node gang runs on the hollow nodes; the agent gets SIGTERM"
J=$("$B" submit -N 8 --gpus-per-node 8 -- train) || fail "submit"
wait_state "$J" running 20 || fail "gang not running: $(job_state "$J")"
kill -TERM "${AGENT_PID[hs]}"
rc=0
wait "${AGENT_PID[hs]}" || rc=$?
unset "AGENT_PID[hs]"
[ $rc = 0 ] || fail "the hollow agent exited $rc: $(tail -3 agent-hs.log)"
grep -q "signal 15: stopping every rank and exiting" agent-hs.log || fail "no stop line"
tail -n 1 agent-hs.log | grep -q "agent: exited" || fail "no closing line: $(tail -1 agent-hs.log)"
log "PASS"

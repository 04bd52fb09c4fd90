#!/bin/bash
# logs_dead_node.sh - logs outlive their node (issue 15): agents keep rank logs on shared
# storage (agent --log-root DIR: DIR/NODE/), and the controller (--log-root DIR) reads a node's
# there once it is not connected, off its loop: after a node dies (kill -9 of its agent and
# ranks), `colossus logs` still shows what its rank wrote, -f style reads from an offset work,
# and a rank whose file is gone says so. A controller without --log-root says why it cannot.
# (Which node holds rank 1 is the placement's choice: D below.)
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"
R=$T/ranklogs
start_controller --log-root "$R"
start_agent n1 1 --log-root "$R"
start_agent n2 1 --log-root "$R"
wait_nodes_up 2
cd "$T"

J=$("$B" submit -N 2 --gpus-per-node 1 -- sh -c 'echo "hello from rank $RANK on $(hostname)"; sleep 120') ||
    fail "submit"
wait_state "$J" running 20 || fail "job $J: $(job_state "$J")"
wait_for 10 bash -c "\"$B\" logs $J --rank 1 2>/dev/null | grep -q 'hello from rank 1'" ||
    fail "rank 1's log while n2 is alive: $("$B" logs "$J" --rank 1 2>&1)"
D=$(job_field "$J" 'd["nodes"][1]') # rank 1's node, which dies
[ -f "$R/$D/job$J.rank-1.log" ] || fail "no $R/$D/job$J.rank-1.log: $(ls -R "$R")"

log "$D dies: its rank's log is read from $R/$D by the controller"
kill_node "$D"
wait_for 10 bash -c "\"$B\" nodes --json | python3 -c 'import json,sys; sys.exit(0 if [n for n in json.load(sys.stdin) if n[\"name\"]==\"$D\" and not n[\"connected\"]] else 1)'" ||
    fail "$D still connected"
out=$("$B" logs "$J" --rank 1 2>&1) || fail "logs of rank 1 on the dead node: $out"
echo "$out" | grep -q "hello from rank 1" || fail "logs of rank 1 on the dead node: $out"
# the follower's form: from an offset on
"$B" logs "$J" --rank 1 -f >follow.out 2>&1 &
FOLLOW=$!
PIDS+=("$FOLLOW")
wait_for 10 grep -q "hello from rank 1" follow.out || fail "logs -f of the dead node: $(cat follow.out)"
kill "$FOLLOW" 2>/dev/null
# a rank whose file is not there: said, naming where it looked
mv "$R/$D/job$J.rank-1.log" "$R/$D/moved.log"
out=$("$B" logs "$J" --rank 1 2>&1) && fail "logs of a missing file: $out"
echo "$out" | grep -q "no log for this rank in $R/$D/job$J.rank-1.log (the node is not connected)" ||
    fail "logs of a missing file: $out"
mv "$R/$D/moved.log" "$R/$D/job$J.rank-1.log"
"$B" logs "$J" --rank 0 | grep -q "hello from rank 0" || fail "rank 0 on the live node"

log "without --log-root the controller cannot, and says so"
L=$([ "$D" = n1 ] && echo n2 || echo n1) # the live one
stop_all
start_controller
start_agent "$L" 1 --log-root "$R"
wait_nodes_up 1
out=$("$B" logs "$J" --rank 1 2>&1) && fail "logs without --log-root: $out"
echo "$out" | grep -q "node $D (holding rank 1) is not connected (and the controller has no --log-root)" ||
    fail "logs without --log-root: $out"
# (with COLOSSUS_BIN=bin/colossus-asan: no sanitizer report from the daemons)
for a in "${!AGENT_PID[@]}"; do kill "${AGENT_PID[$a]}"; wait "${AGENT_PID[$a]}"; done
AGENT_PID=()
! grep -l "Sanitizer\|runtime error" "$T"/agent-*.log || fail "sanitizer report in an agent's log"
stop_controller_clean
log "ok: the dead node's log read from $R/$D"

#!/bin/bash
# cluster_storm.sh - a registration storm must not make the controller declare live nodes
# down: 4 hollow agents bring 100,000 nodes of the colossus2 topology up at once (heartbeat
# 500 ms, dead-after 1,500 ms), then two of them are killed one after the other and exactly
# their 50,000 go down.
# Registering them keeps the controller's loop busy for seconds. Two things kept live nodes
# from being declared down (without them: 195,798 false "declared down" in one run):
#  - libuv runs timers before it reads the sockets, so after a long loop turn heartbeats
#    that did arrive are still unread when dead timers fire: a node is only declared down
#    after that turn's reads (ctl_nodes_judge()), and timers are armed from a fresh clock;
#  - the agent can heartbeat a node only once our reply to its registration has reached it,
#    seconds later in a storm: the first dead timer of a node is twice dead-after.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
HB_MS=500 DEAD_MS=1500
start_controller --preset colossus2
for i in 0 1 2 3; do
    "$B" agent --controller "$CTL_ADDR" --key "$T/key" --name "s$i" --work-dir "$T/agents/s$i" \
        --fake-gpus 2 --hollow 25000 >>"$T/agent-s$i.log" 2>&1 &
    AGENT_PID[s$i]=$!
done
up() { "$B" nodes --json | python3 -c "import json,sys; print(sum(1 for n in json.load(sys.stdin) if n['state'] == 'up'))"; }
wait_for 60 bash -c "[ \"\$(\"$B\" nodes --json | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n[\"state\"] == \"up\"))')\" = 100000 ]" ||
    fail "not all 100,000 nodes up: $(up)"
log "100,000 nodes up"
n=$(grep -c "declared down" "$T/controller.log")
[ "$n" = 0 ] || fail "$n live nodes declared down: $(grep -m3 'declared down' "$T/controller.log")"
# Watching the others: the nodes of a killed agent are declared down by the same deadline
# FIFO that would declare a live node whose heartbeats went unread, once dead-after has passed
# since their last heartbeat. Two agents killed one after the other make the watch at least
# twice dead-after long, ended by events instead of a guessed time.
down=0
for victim in s1 s2; do
    log "killing hollow agent $victim: its 25,000 nodes must go down, the others stay up"
    kill -9 "${AGENT_PID[$victim]}"
    unset "AGENT_PID[$victim]"
    down=$((down + 25000))
    wait_for 20 bash -c "[ \"\$(grep -c 'declared down' $T/controller.log)\" -ge $down ]" ||
        fail "$(grep -c 'declared down' "$T/controller.log") nodes declared down, expected $down"
done
[ "$(grep -c 'declared down' "$T/controller.log")" = 50000 ] ||
    fail "$(grep -c 'declared down' "$T/controller.log") nodes declared down, expected 50000"
grep "declared down" "$T/controller.log" | grep -v "node s[12]-" | head -3 | grep -q . &&
    fail "a node of a live agent declared down"
[ "$(up)" = 50000 ] || fail "$(up) nodes up, expected the 50,000 of the live agents"
log PASS

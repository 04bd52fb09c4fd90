#!/bin/bash
# agent_restart.sh - an agent restarted keeps its node's ranks (issue 14, docs/standby.md
# "Rolling upgrades"): kill -9 and a new agent on the same work directory, SIGUSR2 (the agent
# re-executes itself), and `colossus upgrade` rolling a new build over both nodes, all under
# one running 2-node job whose rank processes stay the same; the job then ends as its ranks
# say, with no restart spent and one run recorded. A rank that exits while no agent runs is
# reported with its own exit code by the agent that comes back, also once its keeper gave up
# waiting and left the status in a file.
# timeout: 150
. "$(dirname "$0")/cluster_lib.bash"

# The agents run a copy of the binary, which the test replaces with a "new build".
mkdir -p "$T/bin"
cp "$B" "$T/bin/colossus"
AB=$T/bin/colossus
start_agent_from() { # NAME [ARGS]: start_agent, from $AB
    local name=$1
    shift
    "$AB" agent --controller "$CTL_ADDR" --key "$T/key" --name "$name" --work-dir "$T/agents/$name" \
        --fake-gpus 2 --allow-root-jobs "$@" >>"$T/agent-$name.log" 2>&1 &
    AGENT_PID[$name]=$!
}
build_of() { "$B" nodes --json | jfield "[n['build'] for n in d if n['name']=='$1'][0]"; }

start_controller --nodes 2 --gpus-per-node 2
start_agent_from n1 --abandon-ms 400
start_agent_from n2
wait_nodes_up 2
cd "$T"

log "a 2-node job whose ranks run until told"
J=$("$B" submit -N 2 --gpus-per-node 2 -- sh -c 'echo $$ > pid.$RANK; while [ ! -e done ]; do sleep 0.05; done; exit 0')
wait_state "$J" running 20 || fail "job not running"
wait_for 10 bash -c 'ls pid.* 2>/dev/null | wc -l | grep -qx 4' || fail "4 ranks did not start"
ranks=$(cat pid.0 pid.1 pid.2 pid.3)
alive() { for p in $ranks; do kill -0 "$p" || return 1; done; }
b1=$(build_of n1)
[ -n "$b1" ] && [ "$b1" != None ] || fail "no build reported: $b1"

log "kill -9 of n1's agent: its ranks run on; a new agent adopts them"
kill -9 "${AGENT_PID[n1]}"
alive || fail "ranks died with the agent"
start_agent_from n1 --abandon-ms 400
wait_for 10 grep -q "adopted 2 ranks from their keeper" agent-n1.log || fail "n1: not adopted"
wait_nodes_up 2
alive || fail "ranks died across the restart"

log "SIGUSR2 to n2's agent: it re-executes itself and adopts its ranks"
p2=${AGENT_PID[n2]}
kill -USR2 "$p2"
wait_for 10 grep -q "adopted 2 ranks from their keeper" agent-n2.log || fail "n2: not adopted after SIGUSR2"
kill -0 "$p2" || fail "n2's agent is gone: it should have re-executed in place"
wait_nodes_up 2
alive || fail "ranks died across SIGUSR2"

log "colossus upgrade: a new build at the agents' path, rolled one node at a time"
cp "$AB" "$AB.new" && printf 'new build' >>"$AB.new" && mv "$AB.new" "$AB"
"$B" upgrade --batch 1 --timeout 30 >upgrade.out 2>&1 || fail "upgrade: $(cat upgrade.out)"
cat upgrade.out
grep -q "batch 2 of 2" upgrade.out || fail "not two batches: $(cat upgrade.out)"
b2=$(build_of n1)
[ "$b2" != "$b1" ] && [ "$(build_of n2)" = "$b2" ] || fail "builds after the upgrade: n1 $b2, n2 $(build_of n2), before $b1"
alive || fail "ranks died in the upgrade"
"$B" upgrade nosuchnode >bad.out 2>&1 && fail "upgrade of an unknown node succeeded"
grep -q "no node named 'nosuchnode'" bad.out || fail "unknown node: $(cat bad.out)"

log "the job ends as its ranks say: success, no restart spent, one run"
[ "$(job_state "$J")" = running ] || fail "job not running: $(job_state "$J")"
touch done
"$B" wait "$J" --timeout 20 || fail "job did not succeed: $("$B" show "$J")"
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] || fail "a restart was spent"
[ "$(job_field "$J" 'd["incarnation"]')" = 1 ] || fail "incarnation != 1"
runs=$("$B" show "$J" | sed -n '/^runs:/,$p' | grep -c '^  [0-9]')
[ "$runs" = 1 ] || fail "$runs runs recorded: $("$B" show "$J")"

log "a rank that fails while no agent runs: reported with its code by the next agent"
rm -f done
K=$("$B" submit -N 1 -w n1 --gpus-per-node 2 -- sh -c 'echo $$ > k.$RANK; while [ ! -e fail ]; do sleep 0.05; done; exit $((3 + RANK))')
wait_for 10 bash -c 'ls k.* 2>/dev/null | wc -l | grep -qx 2' || fail "job K did not start"
kill -9 "${AGENT_PID[n1]}"
touch fail
# the keeper waits --abandon-ms (400) for an agent, then leaves the status in a file
wait_for 10 bash -c 'ls agents/n1/keep/*.exit 2>/dev/null | grep -q .' || fail "keeper left no status"
start_agent_from n1
wait_state "$K" failed 20 || fail "job K not failed: $("$B" show "$K")"
job_field "$K" 'd["reason"]' | grep -q "exited with code 3" || fail "K's reason: $(job_field "$K" 'd["reason"]')"
[ "$(job_field "$K" 'd["restarts"]')" = 0 ] || fail "K restarted"
grep -q "ended while no agent ran: exit 3" agent-n1.log || fail "n1 did not say how K ended"
ls agents/n1/keep/ | grep -q "job$K-" && fail "K's records stayed: $(ls agents/n1/keep)"
log "PASS"

#!/bin/bash
# svc_nodes.sh - nodes have their own credentials (issue 11): a node credential registers
# only the nodes its host list names; a second agent claiming a connected node's name is
# refused and logged, and its job's Launch never reaches it; a revoked credential is cut off
# on its open connection; `node remove` frees the slots of bogus names so that a real agent
# is no longer refused "no free node slot"; and it refuses a connected node.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 3 --gpus-per-node 2
cd "$T"
"$B" node-token create --nodes 'n[1-2]' > "$T/n12.cred" || fail "node-token create"
chmod 600 "$T/n12.cred"
grep -q '^colossus-node-v1\.nd-[0-9a-f]\{16\}\.' "$T/n12.cred" || fail "credential format"
node_agent() { # NAME CRED
    "$B" agent --controller "$CTL_ADDR" --node-token "$2" --name "$1" --allow-root-jobs \
        --work-dir "$T/agents/$1.$RANDOM" --fake-gpus 2 >>"$T/agent-$1.log" 2>&1 &
    AGENT_PID[$1]=$!
}

log "n1 with its credential registers; n3 with the same one is refused, and told why"
node_agent n1 "$T/n12.cred"
wait_nodes_up 1
node_agent n3 "$T/n12.cred"
wait_for 20 grep -q "is not for node n3" "$T/agent-n3.log" ||
    fail "the agent of n3 was not told why: $(tail -3 "$T/agent-n3.log")"
grep -q "refused registration of node n3 by node credential nd-" "$T/controller.log" ||
    fail "the controller did not log the refusal"
kill "${AGENT_PID[n3]}"; unset 'AGENT_PID[n3]'

log "a second agent for the connected n1 is refused; the job stays with the real one"
J=$("$B" submit --gpus-per-node 2 -- sleep 600) || fail "submit"
wait_state "$J" running 20 || fail "job did not start"
"$B" agent --controller "$CTL_ADDR" --node-token "$T/n12.cred" --name n1 --allow-root-jobs \
    --work-dir "$T/agents/impostor" --fake-gpus 2 >"$T/agent-impostor.log" 2>&1 &
IMP=$!
PIDS+=($IMP)
wait_for 20 grep -q "is connected from .* and alive" "$T/agent-impostor.log" ||
    fail "the impostor was not refused: $(tail -3 "$T/agent-impostor.log")"
kill $IMP
[ "$(job_field "$J" 'd["state"], d["incarnation"]')" = "running 1" ] || fail "the job moved"
grep -q "superseded" "$T/controller.log" && fail "the impostor took n1 over"
grep -q "job $J" "$T/agent-impostor.log" && fail "the impostor heard of the job"
"$B" cancel "$J" >/dev/null

log "the cluster key still registers any node (bootstrap)"
"$B" agent --controller "$CTL_ADDR" --key "$T/key" --name n3 --allow-root-jobs \
    --work-dir "$T/agents/n3key" --fake-gpus 2 >>"$T/agent-n3key.log" 2>&1 &
AGENT_PID[n3key]=$!
wait_nodes_up 2

log "a revoked node credential is cut off, open connection or not"
"$B" token revoke "$(cut -d. -f2 "$T/n12.cred")" || fail "revoke"
wait_for 20 grep -q "node credential nd-[0-9a-f]* was revoked" "$T/controller.log" ||
    fail "the revoked credential still works"
wait_for 20 bash -c "[ \"\$(\"$B\" nodes --json | python3 -c 'import json,sys; print([n[\"connected\"] for n in json.load(sys.stdin) if n[\"name\"]==\"n1\"][0])')\" = False ]" ||
    fail "n1 is still connected"
kill "${AGENT_PID[n1]}"; unset 'AGENT_PID[n1]'

log "bogus names fill the slots; node remove frees them"
"$B" node remove n3 2>"$T/err" && fail "node remove of a connected node was accepted"
grep -q "is connected" "$T/err" || fail "why not: $(cat "$T/err")"
"$B" node-token create --nodes 'bogus[1-9],real1' > "$T/b.cred" || fail "node-token create"
node_agent bogus1 "$T/b.cred"
wait_nodes_up 2 # n3 and bogus1 (n1 is gone, but its name holds a slot)
node_agent real1 "$T/b.cred"
wait_for 20 grep -q "no free node slot" "$T/agent-real1.log" || fail "real1 was not refused"
kill "${AGENT_PID[bogus1]}"; unset 'AGENT_PID[bogus1]'
wait_for 20 "$B" node remove bogus1 || fail "node remove bogus1: $("$B" node remove bogus1 2>&1)"
"$B" nodes --json | jfield "[n['name'] for n in d]" | grep -q bogus1 && fail "bogus1 is still listed"
wait_for 30 bash -c "\"$B\" nodes --json | grep -q '\"real1\"'" || fail "real1 did not get the freed slot"
"$B" audit --json | jfield "[r['op'] for r in d if r['target']=='bogus1' and r['ok']]" |
    grep -q "node remove" || fail "node remove is not audited"

log "the removal survives a restart"
stop_all
start_controller --nodes 3 --gpus-per-node 2
"$B" nodes --json | jfield "[n['name'] for n in d]" | grep -q bogus1 && fail "bogus1 came back"
log "ok"

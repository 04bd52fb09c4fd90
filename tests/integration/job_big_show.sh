#!/bin/bash
# job_big_show.sh - a job whose node list is bigger than a frame (issue 16: a gang of 539,000
# nodes names 5 MB; a frame is at most 4 MiB, a reply part ~1 MiB): `show` and `jobs` answer
# with the whole list, in rank order, the names beyond the first part coming in parts of
# Response.job_nodes. Here 80,000 hollow nodes of 52- to 56-byte names: 4.5 MB, over a frame.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"

N=80000
NAME=h-a-very-long-agent-name-so-that-node-names-are-lo # 50: the longest kept
start_controller --nodes $N --gpus-per-node 1
"$B" agent --controller "$CTL_ADDR" --key "$T/key" --name "$NAME" --work-dir "$T/agents/h" \
    --fake-gpus 1 --hollow $N --hollow-run-ms 600000 >>"$T/agent-h.log" 2>&1 &
AGENT_PID[h]=$!
wait_for 40 grep -q "registered $NAME-$((N - 1)) " "$T/agent-h.log" || fail "the nodes did not register"
cd "$T"
J=$("$B" submit -N $N --gpus-per-node 1 -- train) || fail "submit"
wait_state "$J" running 20 || fail "job $J not running: $("$B" show "$J" | grep -E 'state|reason')"
# check FILE: the job's JSON in FILE names every node once, node rank 0 first (its master)
check() {
    python3 - "$1" "$N" "$NAME" <<'PY' || fail "$1: $(head -c 300 "$1")"
import json, sys
d = json.load(open(sys.argv[1]))
if isinstance(d, list):
    d = d[0]
n, name = int(sys.argv[2]), sys.argv[3]
nodes = d["nodes"]
assert len(nodes) == n, len(nodes)
assert set(nodes) == {f"{name}-{i}" for i in range(n)}, "not every node, once"
PY
}
"$B" show --json "$J" >show.json || fail "show --json"
check show.json
"$B" jobs --json >jobs.json || fail "jobs --json"
check jobs.json
[ "$(python3 -c "import json; print(json.load(open('show.json'))['nodes'] == json.load(open('jobs.json'))[0]['nodes'])")" = True ] ||
    fail "show and jobs disagree on the order"
log "show and jobs answered a job of $N nodes ($(python3 -c "import json; print(sum(len(x) for x in json.load(open('show.json'))['nodes']))") bytes of names) whole"
! grep -q "over the .*-byte frame limit" controller.log || fail "a reply was dropped: $(grep 'frame limit' controller.log)"
"$B" cancel "$J" >/dev/null || fail "cancel"
"$B" wait "$J" --timeout 20 >/dev/null
[ "$(job_state "$J")" = cancelled ] || fail "job $J is $(job_state "$J")"
log "PASS"

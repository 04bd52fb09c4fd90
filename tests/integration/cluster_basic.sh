#!/bin/bash
# cluster_basic.sh - 4 agents x 8 fake GPUs on 127.0.0.1: a 2-node x 4-GPU job sees RANK 0..7
# and the torchrun variables; jobs sharing a node get disjoint CUDA_VISIBLE_DEVICES; logs;
# show --json; a failing rank fails the job and stops the others; cancel leaves no process;
# nodes, drain, resume; bad input is refused with a message.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"

start_controller
for i in 1 2 3 4; do start_agent "n$i" 8; done
wait_nodes_up 4
cd "$T"

log "2 nodes x 4 GPUs: ranks and environment"
J=$("$B" submit -N 2 --gpus-per-node 4 --name envjob -- sh -c \
    'echo "R=$RANK W=$WORLD_SIZE L=$LOCAL_RANK LW=$LOCAL_WORLD_SIZE N=$NODE_RANK M=$MASTER_ADDR:$MASTER_PORT C=$CUDA_VISIBLE_DEVICES J=$COLOSSUS_JOB_ID X=$COLOSSUS_RESTART K=$COLOSSUS_CHECKPOINT_DIR"') ||
    fail "submit"
[[ $J =~ ^[0-9]+$ ]] || fail "submit printed '$J', not a job id"
"$B" wait "$J" --timeout 30 || fail "job $J did not succeed"
"$B" logs "$J" > logs.txt || fail "logs"
grep -c '^R=' logs.txt | grep -qx 8 || fail "expected 8 rank lines: $(cat logs.txt)"
for r in 0 1 2 3 4 5 6 7; do
    grep -q "^R=$r W=8 L=$((r % 4)) LW=4 N=$((r / 4)) M=127.0.0.1:[0-9]* C=[0-9],[0-9],[0-9],[0-9] J=$J X=0 K=$T/state/checkpoints/$J\$" logs.txt ||
        fail "rank $r environment wrong: $(cat logs.txt)"
done
[ "$(grep -o 'M=[^ ]*' logs.txt | sort -u | wc -l)" = 1 ] || fail "ranks disagree on MASTER_ADDR:PORT"
"$B" logs "$J" --rank 5 | grep -q '^R=5 ' || fail "logs --rank 5"
"$B" show "$J" --json > show.json
python3 - "$J" <<'PY' || fail "show --json: $(cat show.json)"
import json, sys
d = json.load(open("show.json"))
for k in ("id", "name", "state", "restarts", "nodes", "exit_code", "submit_time", "start_time", "end_time", "running_time"):
    assert k in d, k
assert d["id"] == int(sys.argv[1]) and d["name"] == "envjob" and d["state"] == "succeeded"
assert d["exit_code"] == 0 and d["restarts"] == 0 and len(set(d["nodes"])) == 2
assert d["submit_time"] <= d["start_time"] <= d["running_time"] <= d["end_time"]
PY

log "jobs sharing a node get disjoint GPUs"
"$B" drain n2 --reason "test" && "$B" drain n3 --reason "test" && "$B" drain n4 --reason "test" || fail "drain"
"$B" nodes --json | jfield '[n["state"] for n in d if n["name"]=="n2"][0]' | grep -qx drained || fail "n2 not drained"
# Both hold their GPUs at once: each runs until the test has seen both running.
A=$("$B" submit --gpus-per-node 3 -- sh -c 'echo "C=$CUDA_VISIBLE_DEVICES"; while [ ! -e both ]; do sleep 0.05; done')
C=$("$B" submit --gpus-per-node 4 -- sh -c 'echo "C=$CUDA_VISIBLE_DEVICES"; while [ ! -e both ]; do sleep 0.05; done')
wait_state "$A" running 10 && wait_state "$C" running 10 || fail "shared-node jobs not both running"
touch both
"$B" wait "$A" --timeout 30 && "$B" wait "$C" --timeout 30 || fail "shared-node jobs"
[ "$(job_field "$A" 'd["nodes"][0]')" = n1 ] && [ "$(job_field "$C" 'd["nodes"][0]')" = n1 ] || fail "not on n1"
ga=$("$B" logs "$A" --rank 0 | sed 's/C=//'); gc=$("$B" logs "$C" --rank 0 | sed 's/C=//')
log "job $A GPUs $ga, job $C GPUs $gc"
[ "$(echo "$ga,$gc" | tr , '\n' | sort -u | wc -l)" = 7 ] || fail "GPU lists overlap: $ga / $gc"
for n in n2 n3 n4; do "$B" resume "$n" || fail "resume $n"; done
wait_nodes_up 4

log "a failing rank fails the job and stops the others"
# Rank 3 fails once the others have started (written their pids).
F=$("$B" submit -N 2 --gpus-per-node 2 -- sh -c 'echo $$ > t.f.$RANK && mv t.f.$RANK fpid.$RANK; if [ $RANK = 3 ]; then while [ ! -e fpid.0 ] || [ ! -e fpid.1 ] || [ ! -e fpid.2 ]; do sleep 0.05; done; exit 3; fi; exec sleep 60')
"$B" wait "$F" --timeout 30 && fail "failing job reported success"
[ "$(job_state "$F")" = failed ] || fail "state $(job_state "$F")"
[ "$(job_field "$F" 'd["exit_code"]')" = 3 ] || fail "exit code $(job_field "$F" 'd["exit_code"]')"
job_field "$F" 'd["reason"]' | grep -q "rank 3 .* code 3" || fail "reason: $(job_field "$F" 'd["reason"]')"
fpids=$(echo $(cat fpid.0 fpid.1 fpid.2))
wait_for 10 bash -c "for p in $fpids; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0" ||
    fail "the other ranks of the failed job still run"

log "a command that cannot be started fails the job with 127 and a log line"
E=$("$B" submit --gpus-per-node 1 -- /nonexistent/cmd --flag) || fail "submit"
"$B" wait "$E" --timeout 30 && fail "job with a missing command succeeded"
[ "$(job_field "$E" 'd["exit_code"]')" = 127 ] || fail "exit code $(job_field "$E" 'd["exit_code"]')"
"$B" logs "$E" | grep -q "cannot launch.*nonexistent" || fail "no launch error in the log: $("$B" logs "$E")"
[ "$(job_field "$E" 'd["running_time"]')" = None ] || fail "a job that never ran has a running_time"

log "a job past its time limit is stopped and failed"
L=$("$B" submit --gpus-per-node 1 --time-limit 0.05 -- sh -c 'echo $$ > t.l && mv t.l lpid; exec sleep 60')
[ "$(job_field "$L" 'd["time_limit_min"]')" = 0.05 ] || fail "time limit not shown"
"$B" wait "$L" --timeout 20 && fail "job past its time limit succeeded"
job_field "$L" 'd["reason"]' | grep -q "time limit" || fail "reason: $(job_field "$L" 'd["reason"]')"
t=$(job_field "$L" 'round(d["end_time"] - d["start_time"], 1)')
log "ended $t s after its start (limit 3 s)"
python3 -c "import sys; sys.exit(not 3 <= $t < 5)" || fail "time limit enforced after $t s"
wait_for 10 bash -c "! kill -0 $(cat lpid) 2>/dev/null" || fail "rank survived its time limit"
"$B" submit --time-limit 0 -- true 2>/dev/null && fail "--time-limit 0 accepted"

log "cancel stops every rank and leaves no process"
X=$("$B" submit -N 2 --gpus-per-node 2 -- sh -c 'trap "" TERM; echo $$ > t.p.$RANK && mv t.p.$RANK pid.$RANK; while :; do sleep 0.2; done')
wait_state "$X" running 20 || fail "not running"
wait_for 10 bash -c 'ls pid.* 2>/dev/null | wc -l | grep -qx 4' || fail "ranks did not start"
wait_for 5 bash -c "[ \"\$(\"$B\" show $X --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"running_time\"] is not None and d[\"running_time\"] >= d[\"start_time\"])')\" = True ]" ||
    fail "a running job's ranks run but it has no running_time: $("$B" show "$X" --json)"
pids=$(echo $(cat pid.*))
for p in $pids; do kill -0 "$p" || fail "rank $p not alive"; done
"$B" cancel "$X" || fail "cancel"
[ "$(job_state "$X")" = cancelled ] || fail "state after cancel"
wait_for 15 bash -c "for p in $pids; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0" ||
    fail "ranks survived cancel (they ignore TERM: KILL after the grace period expected)"
"$B" cancel "$X" 2>err.txt && fail "second cancel accepted"
grep -q "already cancelled" err.txt || fail "cancel message: $(cat err.txt)"

log "tenant, priority and the --controller/--key flags"
# a tenant is made by an admin, never on first use
"$B" submit --tenant research --gpus-per-node 1 -- true 2>err.txt && fail "an unknown tenant accepted"
grep -q "no tenant 'research'" err.txt || fail "unknown tenant: $(cat err.txt)"
"$B" tenant add research >/dev/null || fail "tenant add"
Q=$(COLOSSUS_CONTROLLER= COLOSSUS_KEY= "$B" submit --controller "$CTL_ADDR" --key "$T/key" \
    --tenant research --priority 7 --max-restarts 1 --gpus-per-node 1 -- true) || fail "submit with flags"
"$B" wait "$Q" --timeout 20 >/dev/null || fail "job $Q"
[ "$(job_field "$Q" 'd["tenant"], d["priority"], d["max_restarts"]')" = "research 7 1" ] ||
    fail "tenant/priority/max-restarts: $(job_field "$Q" 'd["tenant"], d["priority"], d["max_restarts"]')"

log "listing and bad input"
n=$("$B" jobs --all --json | jfield "len(d)"); [ "$n" = 8 ] || fail "jobs --all lists $n jobs, not 8"
"$B" jobs | grep -q envjob && fail "finished job listed without --all"
"$B" nodes | grep -Eq "^[0-9]+ +n4 +up +8 +8 +yes" || fail "nodes table: $("$B" nodes)"
"$B" submit -N 2 2>err.txt && fail "submit without a command accepted"
grep -q "no command" err.txt || fail "message: $(cat err.txt)"
"$B" submit -N 0 -- true 2>err.txt && fail "-N 0 accepted"
"$B" submit --gpus-per-node 9 -- true 2>err.txt && fail "9 GPUs per node accepted"
grep -q "can never run: needs 1 node of 9 GPUs, nodes have 8" err.txt || fail "message: $(cat err.txt)"
"$B" submit -N 100 -- true 2>err.txt && fail "gang larger than the topology accepted"
log "oversized gang: $(cat err.txt)"
"$B" show 9999 2>err.txt && fail "show of an unknown job"
grep -q "no job 9999" err.txt || fail "message: $(cat err.txt)"
"$B" show abc 2>err.txt && fail "show abc"
grep -q "not a job id" err.txt || fail "message: $(cat err.txt)"
"$B" drain nosuch --reason x 2>err.txt && fail "drain of an unknown node"
"$B" drain n1 2>err.txt && fail "drain without a reason"
"$B" jobs --bogus 2>/dev/null && fail "unknown flag accepted"
COLOSSUS_CONTROLLER= COLOSSUS_DIR=$T/none "$B" jobs 2>err.txt && fail "no controller"
grep -q "no controller given" err.txt || fail "message: $(cat err.txt)"
"$B" agent --controller "$CTL_ADDR" --key "$T/key" --name x --work-dir "$T/x" --fake-gpus 0 2>err.txt && fail "--fake-gpus 0"
"$B" agent --controller "$CTL_ADDR" --key "$T/key" --name x --work-dir "$T/x" 2>err.txt && fail "agent without GPUs started"
grep -q "NVML" err.txt || fail "message: $(cat err.txt)"
"$B" controller --state-dir "$T/s2" --listen nope --key "$T/key" 2>err.txt && fail "bad --listen"
grep -q "HOST:PORT" err.txt || fail "message: $(cat err.txt)"
"$B" controller --state-dir "$T/s2" --listen 127.0.0.1:0 --key "$T/key" --preset nosuch 2>err.txt && fail "unknown preset"
grep -q "topology" err.txt || fail "message: $(cat err.txt)"
"$B" controller --state-dir "$T/s2" --listen 127.0.0.1:0 --key "$T/key" --topology "$T/none.conf" 2>err.txt && fail "missing topology file"
grep -q "none.conf" err.txt || fail "message: $(cat err.txt)"
"$B" controller --state-dir "$T/s2" --listen 127.0.0.1:0 --key "$T/key" --heartbeat-ms 500 --dead-after-ms 400 2>err.txt && fail "dead-after below heartbeat"
"$B" submit --priority x -- true 2>err.txt && fail "--priority x accepted"
"$B" controller --state-dir "$T/s2" --listen 127.0.0.1:0 --key "$T/key" --checkpoint-dir rel 2>err.txt && fail "relative --checkpoint-dir"
grep -q "absolute" err.txt || fail "message: $(cat err.txt)"
# kueue#11134: a half-life of 0 must not quietly switch fair share off
for h in 0 30s 1x; do
    "$B" controller --state-dir "$T/s2" --listen 127.0.0.1:0 --key "$T/key" --fairshare-halflife $h 2>err.txt
    [ $? = 2 ] || fail "--fairshare-halflife $h: not a usage error"
    grep -q "fairshare-halflife" err.txt || fail "message: $(cat err.txt)"
done
grep -q "'1x'" err.txt || fail "the bad duration is not quoted: $(cat err.txt)"
log "PASS"

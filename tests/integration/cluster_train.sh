#!/bin/bash
# cluster_train.sh - a real distributed PyTorch job (DDP over gloo, env:// from the variables
# Colossus sets) on 2 agents x 2 ranks: one agent is killed with -9 mid-run (with its ranks, as
# a node dies); the job restarts by itself, resumes from its checkpoint (not step 0) and ends
# with the same final parameters as an uninterrupted run.
# timeout: 240
. "$(dirname "$0")/cluster_lib.bash"
PY=/usr/bin/python3
"$PY" -c "import torch.distributed" 2>/dev/null || fail "python3-torch is not installed (scripts/install-deps.sh)"
root=$(cd "$(dirname "$0")/../.." && pwd)
TRAIN=${TRAIN_SCRIPT:-$root/examples/train.py}
[ -f "$TRAIN" ] || TRAIN=$root/tests/integration/cluster_train_ddp.py
log "training script: $TRAIN"
export STEPS=60 CKPT_EVERY=10 STEP_SLEEP=0.15

start_controller --nodes 8 --gpus-per-node 2
for i in 1 2 3; do start_agent "n$i" 2; done   # 2 for the job, 1 to restart on
wait_nodes_up 3
cd "$T"

final_hash() { "$B" logs "$1" --rank 0 | sed -n 's/.*final params sha256 \([0-9a-f]*\).*/\1/p' | tail -n 1; }

log "uninterrupted reference run"
R=$("$B" submit -N 2 --gpus-per-node 2 --name reference -- "$PY" "$TRAIN") || fail "submit"
"$B" wait "$R" --timeout 100 || { "$B" logs "$R" | tail -n 30; fail "reference run failed"; }
ref=$(final_hash "$R")
[ -n "$ref" ] || fail "reference run printed no final parameters"
log "reference final params $ref"

log "interrupted run: kill -9 a node after a checkpoint"
J=$("$B" submit -N 2 --gpus-per-node 2 --name interrupted -- "$PY" "$TRAIN") || fail "submit"
wait_for 90 grep -q "step 20 .*checkpointed" "$T/agents/"*/jobs/"$J"/logs/rank-0.log ||
    fail "no checkpoint at step 20"
[ "$(job_state "$J")" = running ] || fail "job ended before the kill"
victim=$(job_field "$J" 'd["nodes"][1]')
log "kill -9 $victim"
kill_node "$victim"
wait_for 30 bash -c "[ \"\$(\"$B\" show $J --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"incarnation\"])')\" = 2 ]" ||
    fail "job not restarted"
"$B" wait "$J" --timeout 120 || { "$B" logs "$J" | tail -n 30; fail "interrupted run did not succeed"; }
"$B" logs "$J" --rank 0 > rank0.txt
grep -q "restart 1 starting at step [1-9][0-9]*" rank0.txt || fail "restart did not resume from a checkpoint: $(grep starting rank0.txt)"
grep "starting at step" rank0.txt | sed 's/^/    /'
[ "$(job_field "$J" 'd["restarts"]')" = 1 ] || fail "restarts != 1"
got=$(final_hash "$J")
log "interrupted run final params $got"
[ "$got" = "$ref" ] || fail "final parameters differ: $got vs $ref"
log "PASS"

#!/bin/bash
# cluster_train.sh - examples/train.py (PyTorch DDP over gloo, env:// from the variables
# Colossus sets) on 2 agents x 2 ranks: one agent is killed with -9 mid-run (with its ranks, as
# a node dies); the job restarts by itself, resumes from its checkpoint (not step 0) and ends
# with the same final parameters as an uninterrupted run.
# timeout: 240
PY=/usr/bin/python3
"$PY" -c "import torch.distributed" 2>/dev/null ||
    { echo "python3-torch is not installed (scripts/install-deps.sh)"; exit 77; }
. "$(dirname "$0")/cluster_lib.bash"
TRAIN=$(cd "$(dirname "$0")/../.." && pwd)/examples/train.py
[ -f "$TRAIN" ] || fail "$TRAIN not found"
# The agents pass their environment to the ranks.
export TRAIN_STEPS=80 TRAIN_CKPT_EVERY=10 TRAIN_STEP_SLEEP=0.1

start_controller --nodes 8 --gpus-per-node 2
for i in 1 2 3; do start_agent "n$i" 2; done   # 2 for the job, 1 to restart on
wait_nodes_up 3
cd "$T"
final() { echo "$T/state/checkpoints/$1/final.json"; }

log "uninterrupted reference run"
R=$("$B" submit -N 2 --gpus-per-node 2 --name reference -- "$PY" "$TRAIN") || fail "submit"
"$B" wait "$R" --timeout 100 || { "$B" logs "$R" | tail -n 30; fail "reference run failed"; }
[ -s "$(final "$R")" ] || fail "reference run wrote no final.json"

log "interrupted run: kill -9 a node after a checkpoint"
J=$("$B" submit -N 2 --gpus-per-node 2 --name interrupted -- "$PY" "$TRAIN") || fail "submit"
# checkpoint.pt appears whole (written to a temporary file, renamed): the kill may come at once
wait_for 90 test -s "$T/state/checkpoints/$J/checkpoint.pt" || fail "no checkpoint written"
[ "$(job_state "$J")" = running ] || fail "job ended before the kill"
victim=$(job_field "$J" 'd["nodes"][1]')
log "kill -9 $victim"
t_kill=$(date +%s.%N)
kill_node "$victim"
wait_for 30 bash -c "[ \"\$(\"$B\" show $J --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"incarnation\"])')\" = 2 ]" ||
    fail "job not restarted"
log "restarted (incarnation 2) $(python3 -c "import time; print(round(time.time() - $t_kill, 2))") s after the kill"
"$B" wait "$J" --timeout 120 || { "$B" logs "$J" | tail -n 30; fail "interrupted run did not succeed"; }
"$B" logs "$J" --rank 0 | grep -E "resumed from checkpoint at step [1-9]" | sed 's/^/    /' ||
    fail "rank 0 did not resume from a checkpoint"
[ "$(job_field "$J" 'd["restarts"]')" = 1 ] || fail "restarts != 1"
python3 - "$(final "$R")" "$(final "$J")" <<'PY' || fail "final parameters differ"
import json, sys
ref, got = (json.load(open(p)) for p in sys.argv[1:])
assert got["resumed_from"] > 0, "resumed from step %s" % got["resumed_from"]
assert got["restart"] == 1 and ref["restart"] == 0, (got["restart"], ref["restart"])
assert got["steps"] == ref["steps"]
assert got["params"] == ref["params"], "parameters differ"
print("    same final parameters after resuming from step %d" % got["resumed_from"])
PY
log "PASS"

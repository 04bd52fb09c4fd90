#!/bin/bash
# agent_train_flops.sh - examples/train.py reports its model FLOPs (6 x parameters x samples a
# step, examples/train.py flops_per_step()) through COLOSSUS_FLOPS_FILE, and the Exited of its
# run carries the sum over its ranks: 2 ranks x 20 steps x 6 x 161 parameters x 32 samples.
# A real agent driven by the fake controller; the ranks run as the test's own user.
# timeout: 120
. "$(dirname "$0")/agent_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
"$PY" -c "import torch.distributed" 2>/dev/null ||
    { echo "python3-torch is not installed (scripts/install-deps.sh)"; exit 77; }
chmod 711 "$T"
start_fake
fake_agent t --fake-gpus 2 --allow-root-jobs
order 1 "$(id -u)" "$(id -g)" "$(id -un)" 0,1 \
    "TRAIN_STEPS=20 TRAIN_CKPT_EVERY=10 TRAIN_TIMEOUT=60 exec $PY $ROOT/examples/train.py" \
    "$T/ckpt/1"
line=$(exited 1 90)
log "$line"
params=$("$PY" -c "
import sys; sys.path.insert(0, '$ROOT/examples')
import train
print(sum(p.numel() for p in train.make_model().parameters()))")
[ "$params" = 161 ] || fail "the model has $params parameters, not 161"
want=$((2 * 20 * 6 * 161 * 32))
[ "$line" = "exited 1 1 code 0 rank -1 energy_j 0.000 flops $want" ] ||
    fail "train.py's run: $line (want flops $want); $(tail -n 5 "$T/agent-t/logs/job1.rank-0.log")"
grep -q "done: 20 steps" "$T/agent-t/logs/job1.rank-0.log" || fail "train.py did not finish"
log "PASS"

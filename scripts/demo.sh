#!/bin/bash
# demo.sh - `make demo`: a local Colossus cluster on this machine (controller + 3 agents with
# simulated GPUs), a real PyTorch data-parallel training job (examples/train.py, 2 nodes x 2
# ranks, gloo), a node killed with -9 in the middle, the automatic restart from the job's
# checkpoint, success, and `colossus down`; then a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/bin/colossus
export COLOSSUS_DIR=$(mktemp -d /tmp/colossus-demo.XXXXXX)
export COLOSSUS_CONTROLLER= COLOSSUS_KEY=
PY=/usr/bin/python3
# A short, visibly paced training run (knobs reach the ranks through `env` in the command).
knobs="TRAIN_STEPS=${TRAIN_STEPS:-150} TRAIN_CKPT_EVERY=${TRAIN_CKPT_EVERY:-10} TRAIN_STEP_SLEEP=${TRAIN_STEP_SLEEP:-0.08}"
down() { "$bin" down >/dev/null 2>&1 || true; }
trap down EXIT
t0=$SECONDS
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "colossus up: a controller and 3 agents x 2 GPUs on 127.0.0.1"
"$bin" up --nodes 3 --gpus-per-node 2
"$bin" nodes

train=examples/train.py
say "submit: $train on 2 nodes x 2 GPUs (4 ranks, PyTorch data parallel over gloo)"
job=$("$bin" submit -N 2 --gpus-per-node 2 --name train --max-restarts 3 -- env $knobs "$PY" "$root/$train")
echo "job $job submitted"
for _ in $(seq 600); do
    [ "$("$bin" show "$job" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = running ] && break
    sleep 0.1
done
"$bin" jobs
# Let it train until it has written a checkpoint.
ckpt=$COLOSSUS_DIR/state/checkpoints/$job
for _ in $(seq 600); do
    ls "$ckpt" 2>/dev/null | grep -q . && break
    sleep 0.2
done
sleep 1
echo "training, checkpoints in $ckpt:"
"$bin" logs "$job" --rank 0 | tail -n 3 | sed 's/^/  /'

victim=$("$bin" show "$job" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["nodes"][1])')
apid=$(awk -v n="$victim" '$1=="agent" && $2==n {print $3}' "$COLOSSUS_DIR/pids")
say "node failure: kill -9 of $victim (its agent, pid $apid, and every rank on it)"
# the ranks are their keepers' children (docs/standby.md: an agent alone can die and come
# back under its jobs); a node dying takes them all
keepers=$(pgrep -f -- "colossus keep job[0-9]+-inc[0-9]+ $COLOSSUS_DIR/agents/$victim/keep" || true)
kids="$(pgrep -P "$apid" || true) $(for k in $keepers; do pgrep -P "$k"; done)"
kill -9 "$apid" $keepers 2>/dev/null || true
for k in $kids; do kill -9 -- "-$k" 2>/dev/null || true; done
t_kill=$SECONDS
echo "waiting for the controller to notice and restart the job by itself..."
for _ in $(seq 300); do
    inc=$("$bin" show "$job" --json | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["incarnation"], d["state"])')
    [ "${inc%% *}" -ge 2 ] && [ "${inc#* }" = running ] && break
    sleep 0.1
done
grep -E "declared down|requeued|restarting|started, incarnation" "$COLOSSUS_DIR/logs/controller.log" | tail -n 4 | sed 's/^/  controller: /'
"$bin" nodes
"$bin" jobs

say "waiting for the job to finish"
"$bin" wait "$job" || { "$bin" show "$job"; "$bin" logs "$job" --rank 0 | tail -n 20; exit 1; }
"$bin" logs "$job" --rank 0 | grep -E "restart|resumed|done" | sed 's/^/  /'

say "summary"
"$bin" show "$job"
"$bin" show "$job" --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print()
print("job %d (%s) %s with exit code %s after %d automatic restart(s);" % (d["id"], d["name"], d["state"], d["exit_code"], d["restarts"]))
f = json.load(open(sys.argv[1]))
print("it resumed from its checkpoint at step %d of %d, final loss %s." % (f["resumed_from"], f["steps"], f.get("loss")))
print("it ran %.1f s from submission to end, on %s at the end." % (d["end_time"] - d["submit_time"], ", ".join(d["nodes"])))
' "$ckpt/final.json"
echo "node $victim was killed with -9 ${t_kill}s into the demo; the demo took $((SECONDS - t0)) s."
say "colossus down"
"$bin" down
trap - EXIT
rm -rf "$COLOSSUS_DIR"

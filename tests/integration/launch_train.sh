#!/bin/bash
# launch_train.sh - examples/train.py on 2 "nodes" x 2 ranks (gloo on 127.0.0.1), started with
# the environment Colossus gives ranks: an uninterrupted run, then a run killed (kill -9 of
# every rank) mid-way and restarted with COLOSSUS_RESTART=1, which must resume from its
# checkpoint (not step 0) and end with exactly the same parameters.
# timeout: 150
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/train_lib.bash launch-train
STEPS=200

# start_job TAG CKPT_DIR RESTART [VAR=VALUE...]: 2 nodes x 2 local ranks, like the launcher:
# RANK = NODE_RANK * 2 + LOCAL_RANK, each rank in its own session (setsid).
start_job() {
    local tag=$1 ckpt=$2 restart=$3 port node lr rank
    shift 3
    port=$(free_port)
    pids=()
    for node in 0 1; do
        for lr in 0 1; do
            rank=$((node * 2 + lr))
            env "$@" COLOSSUS_JOB_ID=42 COLOSSUS_RESTART="$restart" COLOSSUS_INCARNATION=$((restart + 1)) \
                COLOSSUS_CHECKPOINT_DIR="$ckpt" RANK=$rank WORLD_SIZE=4 LOCAL_RANK=$lr \
                LOCAL_WORLD_SIZE=2 NODE_RANK=$node MASTER_ADDR=127.0.0.1 MASTER_PORT="$port" \
                CUDA_VISIBLE_DEVICES="$((lr * 2)),$((lr * 2 + 1))" TRAIN_STEPS=$STEPS \
                TRAIN_CKPT_EVERY=10 TRAIN_TIMEOUT=60 \
                setsid "$PY" examples/train.py >"$dir/$tag-rank$rank.log" 2>&1 &
            pids+=($!)
        done
    done
}

wait_job() { # every rank must exit 0
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    pids=()
    return $rc
}

final_field() { # FILE FIELD
    "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

params() { # FILE: the parameters, canonical
    "$PY" -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["params"], sort_keys=True))' "$1"
}

t0=$SECONDS
# 1. Uninterrupted reference run.
start_job ref "$dir/ckpt-ref" 0
wait_job || die "reference run failed"
[ -f "$dir/ckpt-ref/final.json" ] || die "reference run wrote no final.json"
[ "$(final_field "$dir/ckpt-ref/final.json" resumed_from)" = 0 ] || die "reference run resumed"
[ "$(final_field "$dir/ckpt-ref/final.json" steps)" = $STEPS ] || die "reference run steps"
echo "reference run: $((SECONDS - t0)) s"

# 2. A slowed run, killed (all ranks, SIGKILL) once a checkpoint past step 30 exists.
t1=$SECONDS
start_job run "$dir/ckpt-run" 0 TRAIN_STEP_SLEEP=0.05
ckpt_step=0
for _ in $(seq 1 600); do
    ckpt_step=$(sed -n 's/.*checkpoint step=\([0-9]*\).*/\1/p' "$dir/run-rank0.log" | tail -n 1)
    [ -n "$ckpt_step" ] && [ "$ckpt_step" -ge 30 ] && break
    sleep 0.1
done
[ -n "$ckpt_step" ] && [ "$ckpt_step" -ge 30 ] || die "no checkpoint past step 30 in time"
for p in "${pids[@]}"; do kill -9 -- "-$p"; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
[ ! -f "$dir/ckpt-run/final.json" ] || die "the killed run finished before it was killed"
[ -f "$dir/ckpt-run/checkpoint.pt" ] || die "no checkpoint.pt"
echo "killed run at checkpoint step $ckpt_step after $((SECONDS - t1)) s"

# 3. Restart: resumes from the checkpoint, ends with the reference's parameters.
t2=$SECONDS
start_job restart "$dir/ckpt-run" 1
wait_job || die "restarted run failed"
[ -f "$dir/ckpt-run/final.json" ] || die "restarted run wrote no final.json"
resumed=$(final_field "$dir/ckpt-run/final.json" resumed_from)
[ "$resumed" -ge "$ckpt_step" ] && [ "$resumed" -lt $STEPS ] ||
    die "restarted run resumed from step $resumed, expected >= $ckpt_step and < $STEPS"
[ "$(final_field "$dir/ckpt-run/final.json" restart)" = 1 ] || die "restart count not seen"
grep -q "resumed from checkpoint at step $resumed" "$dir/restart-rank0.log" || die "no resume line"
[ "$(params "$dir/ckpt-ref/final.json")" = "$(params "$dir/ckpt-run/final.json")" ] ||
    die "final parameters differ from the uninterrupted run"
echo "restarted run resumed from step $resumed, identical final parameters: $((SECONDS - t2)) s"
echo "total $((SECONDS - t0)) s"

#!/bin/bash
# upgrade_train.sh - a rolling upgrade under a training job (issue 14, docs/standby.md
# "Rolling upgrades"): examples/train.py (PyTorch DDP over gloo) on 2 agents x 2 ranks keeps
# training while a new build is installed, every agent is upgraded to it (`colossus upgrade`,
# one node at a time), the controller is restarted on it, and an agent is killed with -9 and
# started again; the job ends with no restart spent and the same final parameters as an
# undisturbed run, its rank processes the same from start to end.
# timeout: 240
PY=/usr/bin/python3
"$PY" -c "import torch.distributed" 2>/dev/null ||
    { echo "python3-torch is not installed (scripts/install-deps.sh)"; exit 77; }
. "$(dirname "$0")/cluster_lib.bash"
TRAIN=$(cd "$(dirname "$0")/../.." && pwd)/examples/train.py
[ -f "$TRAIN" ] || fail "$TRAIN not found"
export TRAIN_STEPS=90 TRAIN_CKPT_EVERY=10 TRAIN_STEP_SLEEP=0.1

# The cluster runs a copy of the binary, which the test replaces with a "new build".
mkdir -p "$T/bin"
cp "$B" "$T/bin/colossus"
AB=$T/bin/colossus
ctl_start() {
    "$AB" controller --state-dir "$T/state" --listen "${CTL_ADDR:-127.0.0.1:0}" --key "$T/key" \
        --address-file "$T/addr" --heartbeat-ms "$HB_MS" --dead-after-ms "$DEAD_MS" \
        --nodes 2 --gpus-per-node 2 >>"$T/controller.log" 2>&1 &
    CTL_PID=$!
    wait_for 20 test -s "$T/addr" || fail "controller did not start"
    CTL_ADDR=$(cat "$T/addr")
    export COLOSSUS_CONTROLLER=$CTL_ADDR
}
agent_start() {
    "$AB" agent --controller "$CTL_ADDR" --key "$T/key" --name "$1" --work-dir "$T/agents/$1" \
        --fake-gpus 2 --allow-root-jobs >>"$T/agent-$1.log" 2>&1 &
    AGENT_PID[$1]=$!
}
ctl_start
agent_start n1
agent_start n2
wait_nodes_up 2
cd "$T"
final() { echo "$T/state/checkpoints/$1/final.json"; }
build_of() { "$B" nodes --json | jfield "[n['build'] for n in d if n['name']=='$1'][0]"; }

log "undisturbed reference run"
R=$("$B" submit -N 2 --gpus-per-node 2 --name reference -- "$PY" "$TRAIN") || fail "submit"
"$B" wait "$R" --timeout 100 || { "$B" logs "$R" | tail -n 30; fail "reference run failed"; }

log "the same run, upgraded under it"
J=$("$B" submit -N 2 --gpus-per-node 2 --name upgraded -- "$PY" "$TRAIN") || fail "submit"
wait_state "$J" running 30 || fail "not running"
wait_for 60 test -s "$T/state/checkpoints/$J/checkpoint.pt" || fail "no checkpoint written"
ranks=$(echo $(pgrep -f "$TRAIN" | while read -r p; do
    tr '\0' '\n' </proc/$p/environ | grep -qx "COLOSSUS_JOB_ID=$J" && echo "$p"; done))
[ "$(echo $ranks | wc -w)" = 4 ] || fail "not 4 ranks: $ranks"
alive() { for p in $ranks; do kill -0 "$p" 2>/dev/null || return 1; done; }
old=$(build_of n1)

log "a new build installed; colossus upgrade, one node at a time"
cp "$AB" "$AB.new" && printf 'build 2' >>"$AB.new" && mv "$AB.new" "$AB"
"$B" upgrade --batch 1 --timeout 30 || fail "upgrade"
[ "$(build_of n1)" != "$old" ] && [ "$(build_of n2)" = "$(build_of n1)" ] || fail "builds: $(build_of n1) $(build_of n2)"
alive || fail "a rank died in the agents' upgrade"

log "the controller restarted on the new build"
kill "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
rm -f "$T/addr"
ctl_start
wait_nodes_up 2
[ "$(job_state "$J")" = running ] || fail "job not running after the controller's restart"
alive || fail "a rank died in the controller's restart"

log "an agent killed with -9 and started again"
kill -9 "${AGENT_PID[n2]}"
agent_start n2
wait_for 10 grep -q "adopted" agent-n2.log || fail "n2 did not adopt its ranks"
wait_nodes_up 2
alive || fail "a rank died across the agent's crash"
[ ! -e "$(final "$J")" ] && [ "$(job_state "$J")" = running ] || fail "the run ended before the last disturbance: too short a test"

"$B" wait "$J" --timeout 120 || { "$B" logs "$J" | tail -n 30; fail "the upgraded run did not succeed"; }
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] || fail "a restart was spent"
[ "$(job_field "$J" 'd["incarnation"]')" = 1 ] || fail "incarnation != 1"
python3 - "$(final "$R")" "$(final "$J")" <<'PY' || fail "final parameters differ"
import json, sys
ref, got = (json.load(open(p)) for p in sys.argv[1:])
assert got["restart"] == 0 and got["resumed_from"] == 0, (got["restart"], got["resumed_from"])
assert got["steps"] == ref["steps"]
assert got["params"] == ref["params"], "parameters differ"
print("    same final parameters, no restart, the same 4 rank processes throughout")
PY
log "PASS"

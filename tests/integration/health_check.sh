#!/bin/bash
# health_check.sh - `gpu check` in the cluster: a node whose start-up check fails registers but
# stays out (keep-out) and no job goes there; `resume` runs a check and brings it back only once
# one passes; the pre-job check (--check-before-job) turns a failing node into a node failure
# (the job restarts elsewhere, COLOSSUS_RESTART=1) instead of running on it; a rank that dies of
# a GPU fault is a node failure, one that just exits non-zero on healthy GPUs is the user's.
# A resume of a list leaves a latched node to its own resume.
# timeout: 150
. "$(dirname "$0")/health_lib.bash"

start_controller --nodes 8 --gpus-per-node 2
for n in g bad pj; do healthy_script $n 2; done
echo "* mem_errors 5" >"$T/burn-bad"
start_nvml_agent g
start_nvml_agent bad
start_nvml_agent pj --check-before-job quick
wait_nodes_up 2
cd "$T"

log "a failing start-up check: registered, kept out"
wait_node bad 'n["connected"] and n["health"] == "keep-out"' || fail "bad: $(node_json bad 'n')"
[ "$(node_json bad 'n["state"]')" = drained ] || fail "bad state $(node_json bad 'n["state"]')"
node_json bad 'n["reason"]' | grep -q "keep-out: .*memory" || fail "reason: $(node_json bad 'n["reason"]')"
[ "$(node_json bad 'n["telemetry"]["check"]["result"]')" = failed ] || fail "check result"
"$B" drain pj --reason "out of the way" >/dev/null || fail "drain pj"
J=$("$B" submit -N 1 --gpus-per-node 2 -- true) && "$B" wait "$J" --timeout 20 || fail "job $J"
[ "$(job_field "$J" 'd["nodes"][0]')" = g ] || fail "job ran on $(job_field "$J" 'd["nodes"]')"

log "resume of a list: a node its GPU health latched is left to its own resume (and check)"
"$B" resume 'bad,pj' >out.txt 2>err.txt && fail "resume bad,pj accepted: $(cat out.txt)"
grep -q "1 of 2 nodes not resumed (its GPU health latched it: resume it alone, with its gpu check): bad; resumed: pj" err.txt ||
    fail "resume bad,pj said: $(cat err.txt)"
[ "$(node_json pj 'n["state"]')" = up ] || fail "pj: $(node_json pj 'n["state"]')"
[ "$(node_json bad 'n["state"] + "|" + n["health"]')" = "drained|keep-out" ] || fail "bad resumed"
"$B" drain pj --reason "out of the way" >/dev/null || fail "drain pj again"

log "resume runs a check: still failing, the node stays out"
"$B" resume bad >out.txt 2>err.txt && fail "resume of a failing node accepted: $(cat out.txt)"
grep -q "bad: gpu check failed: GPU [01]: .*memory.*; the node stays out" err.txt || fail "message: $(cat err.txt)"
[ "$(node_json bad 'n["state"] + "|" + n["health"]')" = "drained|keep-out" ] || fail "bad not kept out"
grep -q "gpu check --full failed" "$T/agent-bad.log" || fail "the agent did not run a full check"
log "... passing: back in service"
: >"$T/burn-bad"
"$B" resume bad >out.txt || fail "resume after the fix: $(cat err.txt)"
grep -q "gpu check passed; resumed" out.txt || fail "resume said: $(cat out.txt)"
[ "$(node_json bad 'n["state"] + "|" + n["health"] + "|" + n["reason"]')" = "up|none|" ] || fail "bad: $(node_json bad 'n')"
"$B" drain bad --reason "out of the way" >/dev/null && "$B" drain g --reason "out of the way" >/dev/null || fail drain

log "pre-job check passes: the job runs on the node"
"$B" resume pj >/dev/null || fail "resume pj"
A=$("$B" submit -N 1 --gpus-per-node 2 -- sh -c 'echo "on $COLOSSUS_FAKE_NVML"') && "$B" wait "$A" --timeout 20 || fail "job $A"
[ "$(job_field "$A" 'd["nodes"][0]')" = pj ] || fail "job $A ran on $(job_field "$A" 'd["nodes"]')"
grep -q "job $A incarnation 1: pre-job gpu check first" agent-pj.log || fail "no pre-job check in the agent's log"

log "pre-job check fails: node failure, the job restarts elsewhere"
echo "* gemm_mismatches 3" >"$T/burn-pj"
P=$("$B" submit -N 1 --gpus-per-node 2 --max-restarts 2 -- sh -c 'echo "$COLOSSUS_RESTART $COLOSSUS_FAKE_NVML" > ran.$COLOSSUS_RESTART') || fail submit
wait_node pj 'n["health"] == "keep-out"' || fail "pj: $(node_json pj 'n')"
[ "$(job_state "$P")" = pending ] || fail "job $P: $(job_state "$P") (no other node is free: pending expected)"
"$B" resume g >/dev/null || fail "resume g"
"$B" wait "$P" --timeout 20 || fail "job $P did not succeed: $("$B" show "$P" --json)"
[ "$(job_field "$P" 'd["restarts"]')" = 1 ] && [ "$(job_field "$P" 'd["nodes"][0]')" = g ] || fail "job $P: $("$B" show "$P" --json)"
[ "$(cat ran.1)" = "1 $T/nvml-g" ] && [ ! -e ran.0 ] || fail "ranks: $(cat ran.*)"
grep -q "job $P incarnation 1 not launched: the pre-job gpu check failed" agent-pj.log || fail "agent log"

log "a rank killed by a GPU fault is a node failure; a rank exiting 1 on healthy GPUs is the user's"
: >"$T/burn-pj"
"$B" resume pj >/dev/null || fail "resume pj"
"$B" drain g --reason "out of the way" >/dev/null
"$B" resume bad >/dev/null || fail "resume bad"
wait_node bad 'n["state"] == "up"' && wait_node pj 'n["state"] == "up"' || fail "bad/pj not up"
# At restart 0 the rank plays an uncontained ECC error: the driver logs XID 95, the rank dies.
K=$("$B" submit -N 1 --gpus-per-node 2 --max-restarts 2 -- sh -c \
    'if [ "$COLOSSUS_RESTART" = 0 ]; then echo "event $LOCAL_RANK 95" >> "$COLOSSUS_FAKE_NVML"; exit 1; fi; echo "restart $COLOSSUS_RESTART ok"') || fail submit
"$B" wait "$K" --timeout 30 || fail "job $K failed: $("$B" show "$K" --json)"
[ "$(job_field "$K" 'd["restarts"]')" = 1 ] || fail "restarts: $(job_field "$K" 'd["restarts"]')"
"$B" logs "$K" --rank 0 | grep -q "restart 1 ok" || fail "logs: $("$B" logs "$K")"
victim=bad
[ "$(node_json bad 'n["health"]')" = drain-now ] || victim=pj
[ "$(node_json $victim 'n["health"] + "|" + n["state"]')" = "drain-now|drained" ] || fail "victim: $(node_json $victim 'n')"
node_json $victim 'n["reason"]' | grep -q "XID 95" || fail "reason: $(node_json $victim 'n["reason"]')"
U=$("$B" submit -N 1 --gpus-per-node 2 --max-restarts 2 -- sh -c 'exit 3') || fail submit
"$B" wait "$U" --timeout 20 && fail "job $U succeeded"
[ "$(job_state "$U")" = failed ] && [ "$(job_field "$U" 'd["exit_code"]')" = 3 ] && [ "$(job_field "$U" 'd["restarts"]')" = 0 ] ||
    fail "user error: $("$B" show "$U" --json)"
log "health_check: ok"

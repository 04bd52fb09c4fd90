#!/bin/bash
# health_xid.sh - XIDs and error counters from the fake NVML lead to the policy's drain
# (docs/health.md): a fatal XID under a running 2-node job restarts the job elsewhere as a node
# failure (COLOSSUS_RESTART incremented) and leaves the node drained with the reason; a
# preventive XID drains the node only once its job has ended; every XID of the policy's tables
# and every counter threshold gives its action; `resume` brings the node back after a passing
# check.
# timeout: 240
. "$(dirname "$0")/health_lib.bash"

start_controller --nodes 8 --gpus-per-node 2
for n in x y z i t u; do
    healthy_script $n 2
    start_nvml_agent $n
done
wait_nodes_up 6
cd "$T"
# Keep the idle test nodes out of the jobs' way.
for n in i t u; do "$B" drain $n --reason "reserved for the test" >/dev/null || fail "drain $n"; done

log "fatal XID under a running 2-node job: node failure, the job restarts elsewhere"
J=$("$B" submit -N 2 --gpus-per-node 2 --max-restarts 2 -- sh -c \
    'echo "$COLOSSUS_RESTART $(cat /proc/self/environ | tr "\0" "\n" | grep ^COLOSSUS_FAKE_NVML=)" >> runs.$RANK; [ "$COLOSSUS_RESTART" -ge 1 ] && exit 0; exec sleep 60') ||
    fail "submit"
wait_state "$J" running 20 || fail "job $J not running"
wait_for 10 test -s runs.0 -a -s runs.1 || fail "ranks did not start"
N0=$(job_field "$J" 'd["nodes"][0]')
spare=$(for n in x y z; do [ "$n" != "$N0" ] && [ "$n" != "$(job_field "$J" 'd["nodes"][1]')" ] && echo $n; done)
log "job $J runs on $(job_field "$J" 'd["nodes"]'); XID 79 on $N0; $spare is free"
xid "$N0" 1 79
"$B" wait "$J" --timeout 30 || fail "job did not succeed after the restart: $("$B" show "$J" --json)"
[ "$(job_field "$J" 'd["restarts"]')" = 1 ] || fail "restarts $(job_field "$J" 'd["restarts"]')"
job_field "$J" 'd["nodes"]' | grep -q "'$N0'" && fail "restarted on the failed node $N0"
job_field "$J" 'd["nodes"]' | grep -q "'$spare'" || fail "not restarted on $spare"
grep -q "^1 COLOSSUS_FAKE_NVML=$T/nvml-$spare" runs.* || fail "no COLOSSUS_RESTART=1 rank on $spare: $(cat runs.*)"
[ "$(node_json "$N0" 'n["state"] + "|" + n["health"]')" = "drained|drain-now" ] || fail "$N0: $(node_json "$N0" 'n')"
node_json "$N0" 'n["reason"]' | grep -q "drain-now: GPU 1: XID 79 (GPU has fallen off the bus)" || fail "reason: $(node_json "$N0" 'n["reason"]')"
grep -q "node $N0 GPU health drain-now" controller.log || fail "controller did not log the drain"
[ "$(job_field "$J" 'd["state"]')" = succeeded ] || fail "state"
no_events "$N0"
"$B" resume "$N0" >out.txt || fail "resume $N0: $(cat out.txt)"
grep -q "gpu check passed; resumed" out.txt || fail "resume said: $(cat out.txt)"
wait_node "$N0" 'n["state"] == "up" and n["health"] == "none"' || fail "$N0 not back"

log "preventive XID under a running job: draining, drained once the job has ended"
rm -f release
P=$("$B" submit -N 1 --gpus-per-node 2 -- sh -c 'while [ ! -f release ]; do sleep 0.1; done') || fail submit
wait_state "$P" running 20 || fail "job $P not running"
PN=$(job_field "$P" 'd["nodes"][0]')
xid "$PN" 0 32
wait_node "$PN" 'n["health"] == "drain-after-job"' || fail "$PN: $(node_json "$PN" 'n')"
# The controller decided on the report that carried the XID; two later reports applied show
# that neither they nor the ticks between them took the node from under its job.
later_reports "$PN" || fail "no health report of $PN after the XID"
[ "$(node_json "$PN" 'n["state"]')" = draining ] || fail "$PN state $(node_json "$PN" 'n["state"]') while its job runs"
[ "$(job_state "$P")" = running ] || fail "the job was stopped by a preventive XID"
node_json "$PN" 'n["reason"]' | grep -q "drain-after-job: GPU 0: XID 32" || fail "reason $(node_json "$PN" 'n["reason"]')"
"$B" resume "$PN" 2>err.txt && fail "resume of a node still running its job accepted"
grep -q "still runs job $P" err.txt || fail "message: $(cat err.txt)"
touch release
"$B" wait "$P" --timeout 20 || fail "job $P did not succeed"
[ "$(job_field "$P" 'd["restarts"]')" = 0 ] || fail "the preventive drain restarted the job"
wait_node "$PN" 'n["state"] == "drained"' 5 || fail "$PN not drained after its job: $(node_json "$PN" 'n["state"]')"
no_events "$PN"
"$B" resume "$PN" >/dev/null || fail "resume $PN"

log "every XID of the policy's tables on an idle node"
"$B" resume i >/dev/null || fail "resume i"
wait_node i 'n["state"] == "up"' || fail "i not up"
expect_xid() { # XID ACTION
    xid i 0 "$1"
    if [ "$2" = none ]; then
        wait_node i "any(x['xid'] == $1 for x in n['xids'])" || fail "XID $1 not recorded"
        [ "$(node_json i 'n["health"] + "|" + n["state"]')" = "none|up" ] || fail "XID $1 drained i"
        return
    fi
    wait_node i "n['health'] == '$2'" || fail "XID $1: health $(node_json i 'n["health"]'), wanted $2"
    node_json i 'n["reason"]' | grep -q "XID $1 " || fail "XID $1: reason $(node_json i 'n["reason"]')"
    [ "$(node_json i 'n["state"]')" = drained ] || fail "XID $1: state $(node_json i 'n["state"]')"
    no_events i
    "$B" resume i >/dev/null || fail "resume after XID $1"
    wait_node i 'n["state"] == "up" and n["health"] == "none"' || fail "i not back after XID $1"
}
for x in 48 62 63 64 74 79 92 94 95 119 120 140 154; do expect_xid $x drain-now; done
for x in 32 38 57 61 121 999 4242; do expect_xid $x drain-after-job; done
for x in 8 13 31 43 68 69 45; do expect_xid $x none; done

log "counter thresholds"
for n in t u; do "$B" resume $n >/dev/null || fail "resume $n"; done
wait_node t 'n["state"] == "up"' && wait_node u 'n["state"] == "up"' || fail "t, u not up"
expect_counter() { # NODE ACTION REASON-PATTERN KEY=VALUE... (on GPU 1)
    local node=$1 action=$2 pat=$3 kv
    shift 3
    for kv in "$@"; do set_gpu "$node" 1 "${kv%%=*}" "${kv#*=}"; done
    wait_node "$node" "n['health'] == '$action'" || fail "$*: health $(node_json "$node" 'n["health"]'), wanted $action"
    node_json "$node" 'n["reason"]' | grep -q "$pat" || fail "$*: reason $(node_json "$node" 'n["reason"]')"
}
resume_ok() {
    "$B" resume "$1" >/dev/null || fail "resume $1"
    wait_node "$1" 'n["state"] == "up" and n["health"] == "none"' || fail "$1 not back"
}
expect_counter t drain-now "uncorrected" ecc_unc=2
resume_ok t
expect_counter t drain-after-job "remap" remap_pending=1
"$B" resume t 2>err.txt && fail "resume with a remap still pending accepted (the check must fail)"
grep -q "gpu check failed" err.txt || fail "message: $(cat err.txt)"
[ "$(node_json t 'n["health"]')" = keep-out ] || fail "a failed check did not keep t out"
set_gpu t 1 remap_pending 0
resume_ok t
expect_counter t drain-now "remap" remap_failure=1
set_gpu t 1 remap_failure 0
resume_ok t
expect_counter t drain-now "lost\|GPU" lost=1
[ "$(node_json t 'n["telemetry"]["gpus_found"]')" = 1 ] || fail "gpus_found with a lost GPU"
set_gpu t 1 lost 0
resume_ok t
expect_counter t drain-after-job "retired" retired_sbe=30 retired_dbe=30
expect_counter u drain-after-job "corrected" ecc_corr=150
expect_counter u drain-now "corrected" ecc_corr=20000
log "health_xid: ok"

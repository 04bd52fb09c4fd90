#!/bin/bash
# health_telemetry.sh - agents on the fake NVML: the start-up gpu check, every telemetry field
# reaching `colossus nodes --json` (and following the GPUs), the table's health columns, the
# NVLink domain from the fabric cliques, application XIDs recorded without a drain, and
# `drain --check` / `resume` on a healthy node.
# timeout: 120
. "$(dirname "$0")/health_lib.bash"

start_controller --nodes 4 --gpus-per-node 2
cd "$T" # scratch files stay in the test directory
healthy_script a 2 7
healthy_script b 2 7
start_nvml_agent a
start_nvml_agent b --check-at-start off
start_agent f 2 # --fake-gpus: no NVML, no health
wait_nodes_up 3
wait_node a 'n["telemetry"] and len(n["telemetry"]["gpus"]) == 2' || fail "no telemetry from a: $("$B" nodes --json)"

log "every field of the fake NVML reaches nodes --json"
"$B" nodes --json >nodes.json
python3 - <<'PY' || fail "telemetry: $(cat nodes.json)"
import json
nodes = {n["name"]: n for n in json.load(open("nodes.json"))}
a = nodes["a"]
assert a["health"] == "none" and a["monitored"] is True, a
assert a["state"] == "up" and a["gpus"] == 2, a
t = a["telemetry"]
assert t["gpus_expected"] == 2 and t["gpus_found"] == 2, t
assert t["check"]["result"] == "passed", t["check"]       # the start-up check (fake burn-in)
for i, g in enumerate(t["gpus"]):
    assert g["index"] == i and g["lost"] is False, g
    assert g["power_w"] == 350.0 + i, g
    assert g["energy_j"] == (123456789 + i) / 1000.0, g
    assert g["temp_c"] == 40 + i and g["util_gpu_pct"] == 90 + i and g["util_mem_pct"] == 50 + i, g
    assert g["mem_used_bytes"] == 1000000000 + i and g["mem_total_bytes"] == 85520809984, g
    assert g["sm_clock_mhz"] == 1980 and g["mem_clock_mhz"] == 2619, g
    assert g["ecc_corrected"] == 0 and g["ecc_uncorrected"] == 0, g
    assert g["remapped_rows"] == 0 and g["remap_pending"] is False and g["remap_failure"] is False, g
    assert g["retired_pages"] is None  # the script gives no retired-page keys: not supported
assert t["age_s"] < 5, t
assert a["nvlink_domain"] == "01234567-89ab-cdef-0123-456789abcdef/7", a["nvlink_domain"]
b = nodes["b"]
assert b["telemetry"]["check"]["result"] == "never", b  # --check-at-start off
f = nodes["f"]
assert f["health"] is None and f["monitored"] is False and f["telemetry"] is None, f
assert f["nvlink_domain"] is None
PY

log "telemetry follows the GPUs"
set_gpu a 1 temp 77
set_gpu a 1 power 612345
set_gpu a 0 ecc_corr 3
wait_node a 'n["telemetry"]["gpus"][1]["temp_c"] == 77 and n["telemetry"]["gpus"][1]["power_w"] == 612.345 and n["telemetry"]["gpus"][0]["ecc_corrected"] == 3' ||
    fail "telemetry did not follow: $(node_json a 'n["telemetry"]')"
[ "$(node_json a 'n["health"]')" = none ] || fail "3 corrected errors drained the node"
"$B" nodes >table.txt
grep -Eq '^[0-9]+ +a +up +2 +2 +yes +ok +77 +962 +3/0 ' table.txt || fail "table: $(cat table.txt)"
grep -Eq '^[0-9]+ +f +up +2 +2 +yes +- +- +- +- ' table.txt || fail "table (fake node): $(cat table.txt)"

log "application and informational XIDs are recorded, nothing drained"
xid a 1 13
xid a 0 45
wait_node a 'len(n["xids"]) == 2' || fail "XIDs not shown: $(node_json a 'n["xids"]')"
node_json a 'n["xids"]' | grep -q "'gpu': 1, 'xid': 13, 'action': 'none'" || fail "xids: $(node_json a 'n["xids"]')"
later_reports a || fail "no health report of a after the XIDs" # and none of them drained a
[ "$(node_json a 'n["state"] + " " + n["health"]')" = "up none" ] || fail "an application XID drained the node"
grep -q "XID 13 (.*): none" "$T/controller.log" || fail "XID not logged by the controller"

log "drain --check on a healthy node: drained, checked, then a plain resume"
no_events a
out=$("$B" drain a --check) || fail "drain --check: $out"
echo "$out" | grep -q "gpu check passed; the node stays drained" || fail "drain --check said: $out"
[ "$(node_json a 'n["state"]')" = drained ] || fail "not drained after drain --check"
[ "$(node_json a 'n["reason"]')" = "maintenance: gpu check" ] || fail "reason $(node_json a 'n["reason"]')"
grep -q "gpu check --full passed" "$T/agent-a.log" || fail "the agent ran no full check"
"$B" resume a || fail "resume"
wait_node a 'n["state"] == "up"' || fail "a not up after resume"
log "drain --check on a busy node: the check waits for its job"
cd "$T"
rm -f release release-y
"$B" drain b --reason "out of the way" >/dev/null && "$B" drain f --reason "out of the way" >/dev/null || fail "drain b, f"
J=$("$B" submit -N 1 --gpus-per-node 2 -- sh -c 'while [ ! -f release ]; do sleep 0.1; done') || fail submit
wait_state "$J" running 20 || fail "job $J not running"
[ "$(job_field "$J" 'd["nodes"][0]')" = a ] || fail "job $J on $(job_field "$J" 'd["nodes"]')"
# A witness: b runs job Y and is drained with --check as well.
"$B" resume b >/dev/null || fail "resume b"
Y=$("$B" submit -N 1 --gpus-per-node 2 -- sh -c 'while [ ! -f release-y ]; do sleep 0.1; done') || fail submit
wait_state "$Y" running 20 || fail "job $Y not running"
[ "$(job_field "$Y" 'd["nodes"][0]')" = b ] || fail "job $Y on $(job_field "$Y" 'd["nodes"]')"
l0=$(wc -l <"$T/agent-a.log")
c0=$(wc -l <"$T/controller.log")
out=$("$B" drain a --check --reason "monthly burn-in") || fail "drain --check of a busy node: $out"
echo "$out" | grep -q "a: draining; its gpu check runs once job $J has ended" || fail "drain --check said: $out"
out=$("$B" drain b --check --reason "witness") || fail "drain --check of b: $out"
echo "$out" | grep -q "b: draining; its gpu check runs once job $Y has ended" || fail "drain --check said: $out"
[ "$(node_json a 'n["state"] + "|" + n["reason"]')" = "draining|monthly burn-in" ] || fail "a: $(node_json a 'n')"
# The controller orders deferred checks from a timer that looks at every node waiting for one:
# the turn of it that orders b's, once Y has ended, looked at a too, with J still running.
touch release-y
"$B" wait "$Y" --timeout 20 || fail "job $Y"
wait_for 10 bash -c "tail -n +$((c0 + 1)) '$T/controller.log' | grep -q 'node b: gpu check --full ordered'" ||
    fail "b's check not ordered once its job ended"
touch release
"$B" wait "$J" --timeout 20 || fail "job $J"
wait_for 10 bash -c "[ \$(grep -c 'gpu check --full passed' '$T/agent-a.log') = 2 ]" || fail "no check once the job ended: $(grep "gpu check" "$T/agent-a.log")"
# The check waited for the job: since the drain, the agent (whose log is in the order it did
# things) got one order of a check, after its job had ended.
tail -n +$((l0 + 1)) "$T/agent-a.log" | awk -v ended="job $J incarnation 1 ended" '
    index($0, ended) && !e { e = NR }
    /the controller orders a gpu check/ { n++; o = NR }
    END { exit !(n == 1 && e && o > e) }' ||
    fail "the check did not wait for job $J: $(tail -n +$((l0 + 1)) "$T/agent-a.log" | grep -E "gpu check|job $J ")"
wait_node a 'n["state"] == "drained" and n["telemetry"]["check"]["result"] == "passed"' || fail "a: $(node_json a 'n')"
wait_node b 'n["state"] == "drained" and n["telemetry"]["check"]["result"] == "passed"' || fail "b: $(node_json b 'n')"
"$B" resume a >/dev/null && "$B" resume b >/dev/null && "$B" resume f >/dev/null || fail "resume"
"$B" drain f --check 2>err.txt && fail "drain --check of a fake-GPU node accepted"
grep -q "does not watch its GPUs" err.txt || fail "message: $(cat err.txt)"
"$B" drain zz --check 2>err.txt && fail "drain --check of an unknown node accepted"
grep -q "no node named 'zz'" err.txt || fail "message: $(cat err.txt)"

log "the agent's start-up check cannot run (no burn-in library): said, not fatal"
healthy_script c 2
COLOSSUS_CUDA_LIB=$T/missing.so start_nvml_agent c
wait_node c 'n["state"] == "up" and n["telemetry"] and n["telemetry"]["check"]["result"] == "unavailable"' ||
    fail "c: $(node_json c 'n')"
node_json c 'n["telemetry"]["check"]["reason"]' | grep -q "cannot be loaded" || fail "reason: $(node_json c 'n["telemetry"]["check"]')"
log "health_telemetry: ok"

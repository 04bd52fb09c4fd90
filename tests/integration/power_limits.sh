#!/bin/bash
# power_limits.sh - `colossus power` end to end on agents with the fake NVML (issue 13): a
# budget and a cut become per-GPU limits the agents set through NVML (read back from the fake
# NVML's state file, the nodes' telemetry and `power show --json`), the GPUs' reported power
# follows the cap, restore lifts it; bad input refused with nothing changed; users refused,
# operators allowed, both audited; the settings survive a controller restart; the default
# limit comes back when the job ends, when the agent stops, and when an agent killed with -9
# starts again.
# timeout: 90
. "$(dirname "$0")/health_lib.bash"

start_controller --nodes 2 --gpus-per-node 2 --http 127.0.0.1:0 --http-address-file "$T/http-address"
cd "$T"
power_agents 2 650000
api_people

pshow() { "$B" power show --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# limits NODE: the limits the fake NVML holds, "0:W 1:W" ("" when every GPU is at its default)
limits() { awk '{printf "%s%s:%d", (NR > 1 ? " " : ""), $2, $4 / 1000}' "$T/nvml-$1.state" 2>/dev/null; }
export -f limits
export T
wait_limits() { # NODE EXPECTED
    wait_for 15 bash -c "[ \"\$(limits $1)\" = '$2' ]" || fail "node $1: limits '$(limits "$1")', not '$2'"
}

log "no budget: no caps"
[ "$(pshow 'd["budget_w"], d["cut_pct"], d["caps"], len(d["levels"])')" = "None 0.0 [] 1" ] ||
    fail "power show without a budget: $("$B" power show --json)"
J=$("$B" submit -N 2 --gpus-per-node 2 -- sleep 600) || fail "submit"
wait_state "$J" running 20 || fail "job $J did not run"

log "a budget of 2.2 kW for 4 GPUs: 550 W each, set through NVML on both nodes"
"$B" power budget set 2.2kW >out.txt || fail "budget set: $(cat out.txt)"
grep -q "power budget set site: budget 2.2 kW" out.txt || fail "answer: $(cat out.txt)"
wait_limits a "0:550 1:550"
wait_limits b "0:550 1:550"
wait_for 10 bash -c "[ \"\$(\"$B\" power show --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"caps\"][0][\"nodes_acked\"])')\" = 2 ]" ||
    fail "the limits were not reported applied: $("$B" power show --json)"
[ "$(pshow 'd["budget_w"], d["caps"][0]["limit_w"], d["caps"][0]["gpus"], d["gpus_capped"], d["apply"]["acked"]')" = "2200.0 550.0 4 4 2" ] ||
    fail "power show: $("$B" power show --json)"
wait_node a 'n["telemetry"]["gpus"][0]["power_limit_w"] == 550 and n["telemetry"]["gpus"][0]["power_w"] == 550 and n["telemetry"]["gpus"][1]["power_default_w"] == 700' ||
    fail "telemetry: $(node_json a 'n["telemetry"]["gpus"]')"
wait_for 10 bash -c "[ \"\$(\"$B\" power show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"measured_w\"])')\" = 2200.0 ]" ||
    fail "measured power: $(pshow 'd["measured_w"]')"

log "power show --json follows docs/api/schema.json; a pod's budget; /metrics"
POD=$(node_json a 'n["pod"]')
"$B" power budget set 3kW --pod "$POD" >/dev/null || fail "a pod's budget"
"$B" power show --json >power.json || fail "power show"
python3 - "$ROOT/docs/api/schema.json" "$POD" <<'PY' || fail "power show --json: $(cat power.json)"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
d = json.load(open("power.json"))
jsonschema.validate(d, dict(schema["$defs"]["power"], **{"$schema": schema["$schema"]}))
lv = [l for l in d["levels"] if l["name"] == sys.argv[2]]
assert lv and lv[0]["budget_w"] == 3000 and lv[0]["gpus_capped"] == 4, d["levels"]
assert list(d)[:6] == ["name", "budget_w", "limit_w", "draw_w", "headroom_w", "cut_pct"], list(d)
PY
curl -s --max-time 10 -H "Authorization: Bearer $(cat oscar.tok)" "$(cat http-address)/metrics" >metrics.txt
grep -qx 'colossus_power_budget_watts{level="site"} 2200' metrics.txt &&
    grep -qx "colossus_power_budget_watts{level=\"pod\",pod=\"$POD\"} 3000" metrics.txt &&
    grep -qx 'colossus_power_cut_ratio 0' metrics.txt && grep -qx "colossus_power_draw_watts 2800" metrics.txt ||
    fail "metrics: $(grep colossus_power metrics.txt)"
"$B" power budget set none --pod "$POD" >/dev/null || fail "a pod's budget: none"

log "a cut of 50%: 1.1 kW, the minimum of 200 W would not fit below 800 W; 275 W each"
"$B" power cut 50% >/dev/null || fail "cut"
wait_limits a "0:275 1:275"
wait_limits b "0:275 1:275"
[ "$(pshow 'd["cut_pct"], d["limit_w"], d["headroom_w"] is not None')" = "50.0 1100.0 True" ] ||
    fail "power show after the cut: $("$B" power show --json)"

log "bad input: refused, nothing changed"
for bad in 700 700XW -5MW abcMW; do
    "$B" power budget set -- "$bad" 2>err.txt && fail "budget $bad accepted"
    [ $? = 2 ] || fail "budget $bad: not a usage error"
done
"$B" power budget set 700 2>err.txt; grep -q "'700' has no unit: say W, kW, MW or GW" err.txt || fail "no unit: $(cat err.txt)"
"$B" power budget set 700XW 2>err.txt; grep -q "unknown unit 'XW'" err.txt || fail "XW: $(cat err.txt)"
"$B" power cut 150% 2>err.txt && fail "a cut of 150% accepted"
grep -q "outside 0-100%" err.txt || fail "cut 150%: $(cat err.txt)"
"$B" power budget set 1kW 2>err.txt && fail "a budget below the GPUs' minimum accepted"
grep -q "power budget set refused: " err.txt || fail "1 kW: $(cat err.txt)"
"$B" power budget set 3kW --pod nosuch 2>err.txt && fail "a budget for no pod accepted"
grep -q "no pod 'nosuch'" err.txt || fail "no pod: $(cat err.txt)"
[ "$(pshow 'd["budget_w"], d["cut_pct"]')" = "2200.0 50.0" ] || fail "a refusal changed something"

log "a user may look but not change; an operator may; both audited"
COLOSSUS_TOKEN=$(cat alice.tok) "$B" power show --json >alice.json || fail "a user cannot see the power tree"
# the job is the default tenant's: alice sees its GPUs counted, not the job
[ "$(jfield 'd["caps"], d["gpus_capped"]' <alice.json)" = "[] 4" ] || fail "alice sees: $(cat alice.json)"
COLOSSUS_TOKEN=$(cat alice.tok) "$B" power restore 2>err.txt && fail "a user lifted the cut"
grep -q "power restore: permission denied: " err.txt ||
    fail "user: $(cat err.txt)"
COLOSSUS_TOKEN=$(cat oscar.tok) "$B" power restore >/dev/null || fail "an operator could not restore"
wait_limits a "0:550 1:550"
"$B" audit --json >audit.json || fail "audit"
python3 - <<'PY' || fail "audit: $(cat audit.json)"
import json
a = [r for r in json.load(open("audit.json")) if r["op"].startswith("power ")]
ops = [(r["who"], r["op"], r["ok"]) for r in a]
assert ("alice", "power restore", False) in ops, ops
assert ("oscar", "power restore", True) in ops, ops
assert any(o == "power budget set" and not ok for _, o, ok in ops), ops
assert any(o == "power cut" and ok for _, o, ok in ops), ops
PY

log "the settings survive a controller restart"
"$B" power cut 20% --for 1h >/dev/null || fail "cut 20% for 1h"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller --nodes 2 --gpus-per-node 2 --http 127.0.0.1:0 --http-address-file "$T/http-address"
wait_nodes_up 2 30
[ "$(pshow 'd["budget_w"], d["cut_pct"], d["cut_until"] > 0')" = "2200.0 20.0 True" ] ||
    fail "after a restart: $("$B" power show --json)"
wait_limits a "0:440 1:440"

log "a cut --for 1s ends by itself"
"$B" power cut 50% --for 1s >/dev/null || fail "cut 50% for 1s"
wait_for 10 bash -c "grep -q \"power: the cut's time is up: budgets restored\" $T/controller.log" ||
    fail "the cut did not end"
wait_limits a "0:550 1:550"
[ "$(pshow 'd["cut_pct"], d["cut_until"]')" = "0.0 None" ] || fail "after the cut's end: $(pshow 'd')"

log "the job ends: every GPU back to its default"
"$B" cancel "$J" >/dev/null || fail "cancel"
wait_limits a ""
wait_limits b ""
grep -q "power: GPU 0 back to its default limit (its job ended)" agent-a.log || fail "no log line"

log "the agent stops: its limits restored"
J=$("$B" submit -N 1 --gpus-per-node 2 -- sleep 600) || fail "submit 2"
wait_state "$J" running 20 || fail "job $J did not run"
N=$(job_field "$J" 'd["nodes"][0]')
[ -z "$(limits "$N")" ] || fail "one job under 1.76 kW needs no cap: $(limits "$N")"
"$B" power cut 60% >/dev/null || fail "cut 60%"
# 880 W less the other node's 2 idle GPUs (140 W): 370 W each
wait_limits "$N" "0:370 1:370"
kill "${AGENT_PID[$N]}"; wait "${AGENT_PID[$N]}" 2>/dev/null; unset "AGENT_PID[$N]"
[ -z "$(limits "$N")" ] || fail "the agent stopped and left $(limits "$N")"

log "kill -9 of the agent: the limit stays; the agent's next start restores it"
start_nvml_agent "$N" --check-at-start off
wait_nodes_up 2 30
"$B" cancel "$J" >/dev/null 2>&1
"$B" power restore >/dev/null || fail "restore"
J=$("$B" submit -N 2 --gpus-per-node 2 -- sleep 600) || fail "submit 3"
wait_for 15 bash -c "\"$B\" show $J --json | grep -q 'its projected power does not fit the power budget'" ||
    fail "4 GPUs x 700 W under 2.2 kW: not pending for power: $("$B" show "$J")"
"$B" power budget set none >/dev/null || fail "budget none"
wait_state "$J" running 30 || fail "job $J did not run"
"$B" power budget set 2.2kW >/dev/null || fail "budget 2.2 kW again"
wait_limits a "0:550 1:550"
kill_node a
[ "$(limits a)" = "0:550 1:550" ] || fail "kill -9 should leave the limit: $(limits a)"
start_nvml_agent a --check-at-start off
wait_limits a ""
grep -q "power: GPU 1 back to its default limit (left set by the agent's previous run)" agent-a.log ||
    fail "no log line of the restore after a crash"
log "PASS"

#!/bin/bash
# power_measured.sh - a job's measured draw becomes its projection (issue 13): agents with the
# fake NVML report their GPUs' power (350 and 351 W); the controller samples each running
# job's GPUs every 5 s and gives the core their mean, which `show` and `--json` report
# (power_w, power_measured_w). Under a 2.2 kW site budget a second 2-GPU job first pends for
# power (A counted at the class default, 700 W a GPU: 1,400 + 1,400 > 2,200 W) and starts once
# A's measured 350.5 W is counted (701 + 1,400). A's limit is then what the budget leaves
# (400 W: its projection is what it is sure of, not a cap), B at the default. The next job of
# the same user and name is projected at A's draw from its submission, across a controller
# restart (the journal's "power-seen" objects); another name at the class default.
# timeout: 90
. "$(dirname "$0")/health_lib.bash"

start_controller --nodes 2 --gpus-per-node 2
cd "$T"
power_agents 2
jf() { "$B" show --json "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }

"$B" power budget set 2.2kW >/dev/null || fail "budget set"
A=$("$B" submit -N 1 --gpus-per-node 2 --name a -- sleep 600) || fail "submit A"
wait_for 10 bash -c "[ \"\$(\"$B\" show --json $A | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = running ]" ||
    fail "A did not start: $("$B" show "$A")"
B2=$("$B" submit -N 1 --gpus-per-node 2 --name b -- sleep 600) || fail "submit B"

log "A counted at 700 W until measured; B pends for power meanwhile"
got=$(jf "$B2" 'd["state"], d["pending_reason"], d["power_w"], d["power_measured_w"]')
case "$got" in
"pending its projected power does not fit the power budget 700.0 None" | "running"*) ;;
*) fail "B before A is measured: $got" ;;
esac
wait_for 20 bash -c "[ \"\$(\"$B\" show --json $A | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"power_measured_w\"])')\" = 350.5 ]" ||
    fail "A's measured draw: $(jf "$A" 'd["power_w"], d["power_measured_w"]')"
[ "$(jf "$A" 'd["power_w"]')" = 350.5 ] || fail "A's projection is not its measured draw"
"$B" show "$A" | grep -q "^power: *350 W per GPU projected (its measured mean)" ||
    fail "show A: $("$B" show "$A")"

log "B starts on A's measured draw"
wait_for 20 bash -c "[ \"\$(\"$B\" show --json $B2 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = running ]" ||
    fail "B did not start once A was measured: $(jf "$B2" 'd["state"], d["pending_reason"]')"
# limits the fake NVML holds: A's node 400 W (2,200 - 701 - 1,400 = 99 W left: +49.5 W each)
limits() { awk '{printf "%s%s:%d", (NR > 1 ? " " : ""), $2, ($4 + 500) / 1000}' "$T/nvml-$1.state" 2>/dev/null; }
export -f limits
export T
na=$(jf "$A" 'd["nodes"][0]')
wait_for 15 bash -c "[ \"\$(limits $na)\" = '0:400 1:400' ]" || fail "A's limits on $na: '$(limits "$na")'"
nb=$(jf "$B2" 'd["nodes"][0]')
[ -z "$(limits "$nb")" ] || [ "$(limits "$nb")" = "0:700 1:700" ] || fail "B's limits on $nb: '$(limits "$nb")'"

log "the limits are restored when the jobs end"
"$B" cancel "$A" >/dev/null && "$B" cancel "$B2" >/dev/null || fail "cancel"
wait_for 15 bash -c "[ -z \"\$(limits $na)\" ] || [ \"\$(limits $na)\" = '0:700 1:700' ]" ||
    fail "A's limits after the end: '$(limits "$na")'"

log "a new job of the same user and name is projected at that draw, also after a restart"
"$B" power budget set none >/dev/null || fail "budget none"
J=$("$B" submit -N 1 --gpus-per-node 2 --name a --hold -- true) || fail "submit a again"
[ "$(jf "$J" 'd["power_w"], d["power_measured_w"]')" = "350.5 350.5" ] ||
    fail "a's next job: $(jf "$J" 'd["power_w"], d["power_measured_w"]')"
K=$("$B" submit -N 1 --gpus-per-node 2 --name other --hold -- true) || fail "submit other"
[ "$(jf "$K" 'd["power_w"], d["power_measured_w"]')" = "700.0 None" ] ||
    fail "another name: $(jf "$K" 'd["power_w"], d["power_measured_w"]')"
stop_controller_clean
start_controller --nodes 2 --gpus-per-node 2
[ "$(jf "$J" 'd["power_w"]')" = 350.5 ] || fail "after a restart: $(jf "$J" 'd["power_w"]')"
L=$("$B" submit -N 1 --gpus-per-node 2 --name a --hold -- true) || fail "submit a after the restart"
[ "$(jf "$L" 'd["power_w"]')" = 350.5 ] || fail "a's job after a restart: $(jf "$L" 'd["power_w"]')"
log "PASS"

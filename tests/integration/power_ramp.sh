#!/bin/bash
# power_ramp.sh - the allowed ramp of a starting job's power (issue 13's smoothing): with
# `power ramp set 400W/s` a 2-GPU job's limits start at the GPUs' 200 W minimum and rise to
# the default (700 W) over (700 - 200) x 2 / 400 = 2.5 s, read from the fake NVML's state
# file as the agent sets them: never down, never faster than the rate (jobs starting
# together share the site's rate: test_core_power's ramp). `power show` says the ramp; the
# setting is journaled; in % of the site budget it needs one; a user may not set it; bad
# rates are refused with nothing changed; REST's POST /power/ramp. A cut lowers the limits at
# once; lifting it raises them back at the rate, not in one jump.
# timeout: 90
. "$(dirname "$0")/health_lib.bash"

power_cluster
# limit NODE GPU: the limit the fake NVML holds in W (700: the default, no line)
limit() { awk -v g="$2" '$2 == g {v = int(($4 + 500) / 1000)} END {print v ? v : 700}' "$T/nvml-$1.state" 2>/dev/null || echo 700; }

log "bad rates: exit 2; in % without a site budget: refused; a user: refused"
for bad in 400W 400 400XW/s 0%/s 150%/s; do
    "$B" power ramp set -- "$bad" 2>err.txt && fail "ramp $bad accepted"
    [ $? = 2 ] || fail "ramp $bad: not a usage error"
done
"$B" power ramp set 400W 2>err.txt; grep -q "'400W' is not a ramp rate" err.txt || fail "400W: $(cat err.txt)"
"$B" power ramp set 0.5%/s 2>err.txt && fail "a ramp in % without a budget accepted"
grep -q "power ramp set refused: a ramp in % of the budget needs a site budget" err.txt || fail "%: $(cat err.txt)"
COLOSSUS_TOKEN=$(cat alice.tok) "$B" power ramp set 400W/s 2>err.txt && fail "a user set the ramp"
grep -q "power ramp set: permission denied" err.txt || fail "user: $(cat err.txt)"
[ "$(pshow 'd["ramp_w_per_s"], d["jobs_ramping"]')" = "None 0" ] || fail "a refusal changed something"

log "400 W/s: a 2-GPU job from 200 W to 700 W in 2.5 s"
"$B" power ramp set 400W/s >out.txt || fail "ramp set: $(cat out.txt)"
grep -q "power ramp set site: ramp 400 W/s" out.txt || fail "answer: $(cat out.txt)"
J=$("$B" submit -N 1 --gpus-per-node 2 -- sleep 600) || fail "submit"
wait_for 10 bash -c "[ \"\$(\"$B\" show --json $J | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = running ]" || fail "the job did not start"
N=$("$B" show --json "$J" | python3 -c "import json,sys; print(json.load(sys.stdin)['nodes'][0])")
t0=$(date +%s.%N) prev=0 seen=""
while :; do
    w=$(limit "$N" 0)
    [ "$w" = "$(limit "$N" 1)" ] || w=$(limit "$N" 0) # a file being rewritten: read again
    [ "$w" -ge "$prev" ] || fail "the limit went down: $prev -> $w W"
    [ "$w" != "$prev" ] && seen="$seen $w" && log "limit $w W at +$(python3 -c "print(round($(date +%s.%N) - $t0, 2))") s"
    prev=$w
    [ "$w" = 700 ] && [ -n "${seen# 700}" ] && break
    python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $t0 < 20 else 1)" || fail "no ramp to 700 W in 20 s:$seen"
    sleep 0.05
done
t1=$(date +%s.%N)
set -- $seen
[ "$1" -le 400 ] || fail "the ramp did not start near the 200 W floor:$seen"
[ $# -ge 4 ] || fail "not a ramp but a jump:$seen"
python3 -c "import sys; d = $t1 - $t0; sys.exit(0 if d >= 1.5 else 1)" || fail "700 W reached too fast for 400 W/s:$seen"
[ "$(pshow 'd["ramp_w_per_s"], d["jobs_ramping"]')" = "400.0 0" ] || fail "power show: $(pshow 'd["ramp_w_per_s"], d["jobs_ramping"]')"
"$B" power show | grep -q "^ramp: 400 W/s, 0 jobs ramping" || fail "power show text: $("$B" power show)"

log "a cut is at once; lifting it ramps back at the rate (370 W -> 700 W: 660 W at 400 W/s)"
"$B" power budget set 2.2kW >/dev/null || fail "budget"
"$B" power cut 60% >/dev/null || fail "cut" # 880 W - 140 W idle: 370 W a GPU
limit_is() { [ "$(limit "$1" 0)" = "$2" ]; }
wait_for 10 limit_is "$N" 370 || fail "the cut: $(limit "$N" 0) W"
"$B" power restore >/dev/null || fail "restore"
t0=$(date +%s.%N) prev=370 seen=""
while :; do
    w=$(limit "$N" 0)
    [ "$w" -ge "$prev" ] || fail "the limit went down after the restore: $prev -> $w W"
    [ "$w" != "$prev" ] && seen="$seen $w" && log "limit $w W at +$(python3 -c "print(round($(date +%s.%N) - $t0, 2))") s"
    prev=$w
    [ "$w" = 700 ] && break
    python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $t0 < 20 else 1)" || fail "no ramp back to 700 W in 20 s:$seen"
    sleep 0.05
done
set -- $seen
[ $# -ge 3 ] || fail "the restore jumped instead of ramping:$seen"
python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $t0 >= 1.0 else 1)" || fail "back to 700 W too fast for 400 W/s:$seen"
"$B" power budget set none >/dev/null || fail "budget none"

log "the setting survives a restart; REST sets it; none lifts it"
stop_controller_clean
start_controller --nodes 2 --gpus-per-node 2 --http 127.0.0.1:0 --http-address-file "$T/http-address"
wait_nodes_up 2
[ "$(pshow 'd["ramp_w_per_s"]')" = 400.0 ] || fail "after a restart: $(pshow 'd["ramp_w_per_s"]')"
URL=$(cat http-address)/api/v1/power/ramp
code=$(curl -s -o r.json -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $(cat oscar.tok)" -X POST -d '{"ramp": "2kW/s"}' "$URL")
[ "$code" = 200 ] && [ "$(jfield 'd["ramp_w_per_s"]' <r.json)" = 2000.0 ] || fail "REST ramp: $code $(cat r.json)"
code=$(curl -s -o r.json -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $(cat oscar.tok)" -X POST -d '{"ramp": "2kW", "ramp_pct": 1}' "$URL")
[ "$code" = 400 ] || fail "REST bad ramp: $code $(cat r.json)"
code=$(curl -s -o r.json -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $(cat alice.tok)" -X POST -d '{"ramp": "none"}' "$URL")
[ "$code" = 403 ] || fail "REST ramp by a user: $code $(cat r.json)"
"$B" power ramp set none >/dev/null || fail "ramp none"
[ "$(pshow 'd["ramp_w_per_s"]')" = None ] || fail "ramp none: $(pshow 'd["ramp_w_per_s"]')"
"$B" audit --json | python3 -c "
import json, sys
ops = [(r['who'], r['op'], r['ok']) for r in json.load(sys.stdin) if r['op'] == 'power ramp set']
assert ('alice', 'power ramp set', False) in ops and any(ok for _, _, ok in ops), ops" || fail "audit"
log "PASS"

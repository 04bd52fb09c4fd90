#!/bin/bash
# power_leaf.sh - budgets at the leaf (row) level (issue 13): `power budget set P --leaf L`
# for an operator, journaled and audited; `power show` lists the leaf among its levels
# (`level: leaf`, its pod); admission counts it: a leaf with room for one 700 W GPU over its
# idle ones runs one job pinned there and holds the next for power until the budget is
# lifted. Bad input (no such leaf, --pod with --leaf, below the GPUs' minimum limits, no
# unit) is refused with nothing changed; a user is refused; REST takes "leaf".
# timeout: 90
. "$(dirname "$0")/health_lib.bash"

power_cluster
L=$("$B" nodes --json | python3 -c "import json,sys; print([n for n in json.load(sys.stdin) if n['name'] == 'a'][0]['leaf'])")
[ -n "$L" ] || fail "node a has no leaf"
leaf() { "$B" power show --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
v = [x for x in d['levels'] if x['level'] == 'leaf' and x['name'] == '$L']
print(v[0]${1:-} if v else None)"; }
[ "$(leaf)" = None ] || fail "a leaf without a budget listed: $(leaf)"
[ "$(pshow "sorted({x['level'] for x in d['levels']})")" = "['pod']" ] || fail "levels: $(pshow 'd["levels"]')"

log "bad input: nothing changed"
"$B" power budget set 1kW --leaf nosuchleaf 2>err.txt && fail "an unknown leaf accepted"
grep -q "power budget set refused: no leaf 'nosuchleaf'" err.txt || fail "unknown leaf: $(cat err.txt)"
"$B" power budget set 1kW --leaf "$L" --pod x 2>err.txt && fail "--pod and --leaf accepted"
[ $? = 2 ] && grep -q "takes --pod or --leaf, not both" err.txt || fail "both: $(cat err.txt)"
"$B" power budget set 300W --leaf "$L" 2>err.txt && fail "a budget below the minimum limits accepted"
grep -q "below its .* GPUs' minimum power limits" err.txt || fail "below: $(cat err.txt)"
for bad in 700 700XW; do
    "$B" power budget set "$bad" --leaf "$L" 2>err.txt && fail "$bad accepted"
    [ $? = 2 ] || fail "$bad: not a usage error"
done
"$B" power cut 10% --leaf "$L" 2>err.txt && fail "cut --leaf accepted"
COLOSSUS_TOKEN=$(cat alice.tok) "$B" power budget set 1kW --leaf "$L" 2>err.txt && fail "a user set a leaf budget"
grep -q "power budget set: permission denied" err.txt || fail "user: $(cat err.txt)"
[ "$(leaf)" = None ] || fail "a refusal changed something: $(leaf)"

log "a leaf with room for one 700 W GPU (its others idle at 70 W)"
"$B" power budget set 2kW --leaf "$L" >out.txt || fail "budget set: $(cat out.txt)"
grep -q "power budget set leaf $L: budget 2 kW" out.txt || fail "answer: $(cat out.txt)"
LG=$(leaf "['gpus']")
BW=$((700 + (LG - 1) * 70 + 50))
"$B" power budget set "${BW}W" --leaf "$L" >/dev/null || fail "budget ${BW} W"
[ "$(leaf "['budget_w'], v[0]['level'], v[0]['pod'] is not None")" = "$BW.0 leaf True" ] ||
    fail "power show: $(leaf)"
"$B" power show | grep -q "^leaf:$L " || fail "power show text: $("$B" power show)"
"$B" power show --json >power.json
python3 - "$ROOT/docs/api/schema.json" <<'PY' || fail "power show --json against the schema: $(cat power.json)"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.validate(json.load(open("power.json")), dict(schema["$defs"]["power"], **{"$schema": schema["$schema"]}))
PY
J1=$("$B" submit -N 1 --gpus-per-node 1 -w a -- sleep 600) || fail "submit 1"
wait_state "$J1" running 15 || fail "the first job did not run"
J2=$("$B" submit -N 1 --gpus-per-node 1 -w a -- sleep 600) || fail "submit 2"
wait_for 15 bash -c "\"$B\" show $J2 --json | grep -q 'its projected power does not fit the power budget'" ||
    fail "the second job under the leaf's ${BW} W is not pending for power: $("$B" show "$J2")"
[ "$(leaf "['gpus_alloc']")" = 1 ] || fail "leaf GPUs allocated: $(leaf "['gpus_alloc']")"

log "the budget survives a restart; REST sets it; none lifts it"
stop_controller_clean
start_controller --nodes 2 --gpus-per-node 2 --http 127.0.0.1:0 --http-address-file "$T/http-address"
wait_nodes_up 2
[ "$(leaf "['budget_w']")" = "$BW.0" ] || fail "after a restart: $(leaf)"
URL=$(cat http-address)/api/v1/power/budget
code=$(curl -s -o r.json -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $(cat oscar.tok)" -X POST -d "{\"budget\": \"none\", \"leaf\": \"$L\"}" "$URL")
[ "$code" = 200 ] || fail "REST leaf budget: $code $(cat r.json)"
[ "$(leaf)" = None ] || fail "REST none: $(leaf)"
wait_state "$J2" running 30 || fail "the second job did not run once the leaf's budget was lifted"
code=$(curl -s -o r.json -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $(cat oscar.tok)" -X POST -d '{"budget": "2kW", "leaf": "nosuchleaf"}' "$URL")
[ "$code" = 400 ] || fail "REST unknown leaf: $code $(cat r.json)"
"$B" audit --json | python3 -c "
import json, sys
ops = [(r['who'], r['target'], r['ok']) for r in json.load(sys.stdin) if r['op'] == 'power budget set']
assert ('alice', 'leaf $L', False) in ops and ('oscar', 'leaf $L', True) in ops, ops" || fail "audit: $("$B" audit)"
log "PASS"

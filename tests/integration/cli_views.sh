#!/bin/bash
# cli_views.sh - the list views as Slurm users read them. `colossus nodes --summary` (as sinfo: counts by state and reason, the
# nodes as a compressed hostlist; its JSON against docs/api/schema.json's node_summary) and
# the filters of `nodes` (--state, --reason, --pod, --nodes HOSTLIST), on 4 agents with fake
# GPUs, one drained; bad filters refused with exit 2 and a sentence naming the problem. Then
# drain and resume of many nodes at once: a hostlist, a pod (each node audited; --check takes
# one node; a target that names nothing is refused). `jobs`: total GPUS, ELAPSED and the
# allocation as a hostlist; the filters --state (a finished state implies --all), --tenant,
# --user, --name.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
"$PY" -c 'import jsonschema' 2>/dev/null || fail "python3-jsonschema is missing (scripts/install-deps.sh)"
start_controller --nodes 4 --gpus-per-node 2
cd "$T"
for n in n01 n02 n03 login1; do start_agent "$n" 2; done
wait_nodes_up 4
"$B" drain n02 --reason "bad fan" >/dev/null || fail "drain n02"
wait_for 10 bash -c "\"$B\" nodes --json | grep -q '\"state\": \"drained\"'" || fail "n02 not drained"

log "the summary: one line per state and reason, the nodes compressed"
"$B" nodes --summary >sum.txt || fail "nodes --summary"
cat sum.txt
grep -Eq '^STATE +NODES +GPUS +FREE +REASON +NODELIST$' sum.txt || fail "header"
grep -Eq '^drained +1 +2 +2 +bad fan +n02$' sum.txt || fail "the drained line"
grep -Eq '^up +3 +6 +6 +- +login1,n\[01,03\]$' sum.txt || fail "the up line"
[ "$(wc -l <sum.txt)" = 3 ] || fail "lines: $(cat sum.txt)"

log "its JSON, against the schema"
"$B" nodes --summary --json >sum.json || fail "nodes --summary --json"
"$PY" - "$ROOT/docs/api/schema.json" sum.json <<'PY' || fail "summary JSON: $(cat sum.json)"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
d = json.load(open(sys.argv[2]))
strict = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
V = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=strict)
one = dict(schema["$defs"]["node_summary"])
for o in d:
    V(one).validate(o)
assert [(o["state"], o["reason"], o["nodes"], o["gpus"], o["gpus_free"], o["nodelist"])
        for o in d] == [("drained", "bad fan", 1, 2, 2, "n02"),
                        ("up", None, 3, 6, 6, "login1,n[01,03]")], d
PY

log "filters"
names() { "$B" nodes --json "$@" | jfield '",".join(sorted(n["name"] for n in d))'; }
[ "$(names --state drained)" = n02 ] || fail "--state drained: $(names --state drained)"
[ "$(names --state up,drained)" = login1,n01,n02,n03 ] || fail "--state up,drained"
[ "$(names --nodes 'n[01-02]')" = n01,n02 ] || fail "--nodes: $(names --nodes 'n[01-02]')"
[ "$(names --reason fan)" = n02 ] || fail "--reason fan: $(names --reason fan)"
[ "$(names --reason nothing-like-it)" = "" ] || fail "--reason matched"
pod=$("$B" nodes --json | jfield '[n["pod"] for n in d if n["name"] == "n01"][0]')
want=$("$B" nodes --json | jfield "\",\".join(sorted(n['name'] for n in d if n['pod'] == '$pod'))")
[ -n "$want" ] && [ "$(names --pod "$pod")" = "$want" ] || fail "--pod $pod: $(names --pod "$pod")"
[ "$(names --pod no-such-pod)" = "" ] || fail "--pod no-such-pod"
"$B" nodes --state up --nodes 'n0[1-3]' >t.txt || fail "table with filters"
[ "$(grep -c ' n0[13] ' t.txt)" = 2 ] && ! grep -q ' n02 \| login1 ' t.txt || fail "table: $(cat t.txt)"
"$B" nodes --summary --state drained | grep -Eq '^drained +1 ' || fail "summary with a filter"

log "bad filters: exit 2, a sentence naming the problem"
refused() {
    local want=$1 rc=0
    shift
    "$B" nodes "$@" >out.txt 2>err.txt || rc=$?
    [ $rc = 2 ] && grep -q -- "$want" err.txt && [ ! -s out.txt ] ||
        fail "nodes $*: exit $rc, $(cat err.txt)"
}
refused "'bogus' is not a node state" --state bogus
refused "'bogus' is not a node state" --state up,bogus
refused "name at least one node state" --state ,
refused "--nodes:" --nodes 'n[01-'
refused "unexpected argument\|takes no\|argument" n01
log "drain and resume a hostlist, a pod"
out=$("$B" drain 'n[01,03]' --reason "rack work") || fail "drain n[01,03]: $out"
[ "$out" = "drained 2 nodes: n[01,03]" ] || fail "drain said: $out"
[ "$(names --state drained)" = n01,n02,n03 ] || fail "drained: $(names --state drained)"
"$B" nodes --summary | grep -Eq '^drained +2 +4 +4 +rack work +n\[01,03\]$' || fail "summary: $("$B" nodes --summary)"
out=$("$B" resume 'n[01-03]') || fail "resume n[01-03]: $out"
[ "$out" = "resumed 3 nodes: n[01-03]" ] || fail "resume said: $out"
[ "$(names --state up)" = login1,n01,n02,n03 ] || fail "up: $(names --state up)"
out=$("$B" drain "$pod" --reason "pod work") || fail "drain pod $pod: $out"
[ "$(names --state drained)" = "$want" ] || fail "pod $pod drained: $(names --state drained)"
"$B" resume "$pod" >/dev/null || fail "resume pod $pod"
[ "$(names --state up)" = login1,n01,n02,n03 ] || fail "up after the pod: $(names --state up)"
"$B" audit --json | jfield '"\n".join(r["op"] + " " + r["target"] for r in d)' >audit.txt
for x in "drain n01" "drain n03" "resume n01" "resume n02" "resume n03"; do
    grep -qx "$x" audit.txt || fail "no audit record '$x': $(cat audit.txt)"
done
rc=0
"$B" drain 'nope[1-2]' --reason x 2>err.txt || rc=$?
[ $rc = 1 ] && grep -qF "no node named 'nope[1-2]' (nor a pod or a leaf" err.txt || fail "nope: $rc $(cat err.txt)"
rc=0
"$B" drain 'n[01-02]' --check 2>err.txt || rc=$?
[ $rc = 1 ] && grep -q "names 2 nodes: --check takes one node" err.txt || fail "--check: $rc $(cat err.txt)"
[ "$(names --state up)" = login1,n01,n02,n03 ] || fail "a refused drain changed: $(names --state up)"
log "jobs: total GPUs, elapsed, the allocation as a hostlist; filters"
A=$("$B" submit --name a1 -N 2 --gpus-per-node 2 -- sleep 600) || fail "submit a1"
Bj=$("$B" submit --name b1 -N 1 --gpus-per-node 1 -- true) || fail "submit b1"
"$B" wait "$Bj" --timeout 30 >/dev/null || fail "b1 did not succeed"
wait_for 20 bash -c "\"$B\" show $A --json | grep -q '\"state\": \"running\"'" || fail "a1 not running"
"$B" jobs >jobs.txt || fail "jobs"
cat jobs.txt
grep -Eq '^ID +NAME +USER +STATE +NODES +GPUS +ELAPSED +RESTARTS +ALLOCATION \(REASON\)$' jobs.txt ||
    fail "jobs header"
alloc=$("$B" show "$A" --json | jfield '",".join(d["nodes"])')
line=$(grep "^$A " jobs.txt) || fail "a1 not listed"
echo "$line" | grep -Eq "^$A +a1 +- +running +2 +4 +00:00:[0-9]{2} +0 +" || fail "a1's line: $line"
last=$(echo "$line" | awk '{print $NF}')
python3 - "$last" "$alloc" <<'PY' || fail "allocation $last is not $alloc as a hostlist"
import sys
h, names = sys.argv[1], sorted(sys.argv[2].split(","))
# the hostlist expanded (its forms here: name, prefix[NN,NN-NN])
out = []
for item in __import__("re").findall(r"[a-z0-9-]+(?:\[[0-9,\-]+\])?", h):
    if "[" in item:
        p, r = item[:-1].split("[")
        for part in r.split(","):
            lo, _, hi = part.partition("-")
            for v in range(int(lo), int(hi or lo) + 1):
                out.append("%s%0*d" % (p, len(lo), v))
    else:
        out.append(item)
assert sorted(out) == names, (out, names)
PY
grep -q "^$Bj " jobs.txt && fail "a finished job listed without --all"
jnames() { "$B" jobs --json "$@" | jfield '",".join(j["name"] for j in d)'; }
[ "$(jnames --state running)" = a1 ] || fail "--state running: $(jnames --state running)"
[ "$(jnames --state succeeded)" = b1 ] || fail "--state succeeded: $(jnames --state succeeded)"
[ "$(jnames --all --name b1)" = b1 ] || fail "--name b1: $(jnames --all --name b1)"
[ "$(jnames --all --tenant no-such-tenant)" = "" ] || fail "--tenant"
[ "$(jnames --all --user nobody)" = "" ] || fail "--user"
"$B" jobs --all --state succeeded | grep -Eq "^$Bj +b1 +- +succeeded +1 +1 +00:00:[0-9]{2} " ||
    fail "b1's line: $("$B" jobs --all)"
rc=0
"$B" jobs --state bogus >out.txt 2>err.txt || rc=$?
[ $rc = 2 ] && grep -q "'bogus' is not a job state" err.txt && [ ! -s out.txt ] || fail "jobs --state bogus: $rc $(cat err.txt)"
"$B" cancel "$A" >/dev/null || fail "cancel a1"
log "ok"

#!/bin/bash
# cli_json_schema.sh - the CLI's JSON against docs/api/schema.json (draft 2020-12, validated with
# Debian's python3-jsonschema): `jobs --all --json`, `show --json` of pending, running,
# succeeded, failed and cancelled jobs, `nodes --json` (two agents with fake GPUs and one on the
# fake NVML, with telemetry and an XID) and `tenants --json`, each object against its $defs
# entry alone (the definitions are self-contained). A field added or renamed without the schema
# fails (additionalProperties false, every field required; shown on a doctored object), and
# docs/api/README.md's tables list the fields in the order the output has them.
# The tenants part is skipped, with a SKIP line, only while the controller answers the tenants
# request with "unknown request" (the controller side lands separately).
# timeout: 120
. "$(dirname "$0")/health_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCHEMA=$ROOT/docs/api/schema.json
PY=/usr/bin/python3
"$PY" -c 'import jsonschema' 2>/dev/null || fail "python3-jsonschema is missing (scripts/install-deps.sh)"

start_controller --nodes 4 --gpus-per-node 2
cd "$T"
start_agent a 2
start_agent b 2
healthy_script g 2 5
start_nvml_agent g
wait_nodes_up 3
wait_node g 'n["telemetry"] and len(n["telemetry"]["gpus"]) == 2' || fail "no telemetry from g"
xid g 1 13
wait_node g 'len(n["xids"]) == 1' || fail "the XID did not reach nodes --json"

# validate DEF FILE...: every object of each file (an array of DEF, or one DEF) is valid
# against $defs/DEF alone; integers must be JSON integers (jsonschema would take 3.0).
validate() {
    "$PY" - "$SCHEMA" "$@" <<'PY'
import json, sys
import jsonschema
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
strict = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
V = jsonschema.validators.extend(Draft202012Validator, type_checker=strict)
name, files = sys.argv[2], sys.argv[3:]
d = dict(schema["$defs"][name], **{"$schema": schema["$schema"]})
v = V(d)
n = 0
for f in files:
    doc = json.load(open(f, encoding="utf-8"))
    for o in doc if isinstance(doc, list) else [doc]:
        errs = sorted(v.iter_errors(o), key=lambda e: list(e.path))
        if errs:
            sys.exit("%s: %s %s: %s" % (f, name, o.get("id", o.get("name")),
                                        "; ".join("%s: %s" % (list(e.path), e.message) for e in errs)))
        n += 1
print("%d %s object(s) valid" % (n, name))
PY
}

log "jobs in every state"
S=$("$B" submit --gpus-per-node 1 --name ok -- true) || fail "submit"
F=$("$B" submit --gpus-per-node 1 --name bad --time-limit 10 -- sh -c 'exit 3') || fail "submit"
"$B" wait "$S" --timeout 20 >/dev/null || fail "job $S did not succeed"
"$B" wait "$F" --timeout 20 >/dev/null && fail "job $F succeeded"
# a name that is not UTF-8 is refused at submit; an argument that is not UTF-8 (a Unix
# argument is bytes) is kept, and rendered with U+FFFD in the JSON
"$B" submit --gpus-per-node 1 --name $'not\xffutf8' -- true 2>err.txt && fail "a non-UTF-8 name"
grep -q "job name is not valid UTF-8" err.txt || fail "message: $(cat err.txt)"
U=$("$B" submit --gpus-per-node 1 --name u8 -- sh -c 'exit 0' $'not\xffutf8') || fail "submit"
"$B" wait "$U" --timeout 20 >/dev/null || fail "job $U did not succeed"
"$B" tenant add research >/dev/null || fail "tenant add"
K=$("$B" submit --gpus-per-node 1 --tenant research --name sleeper -- sleep 60) || fail "submit"
wait_state "$K" running 20 || fail "job $K not running"
# 3 nodes x 2 GPUs while K holds one GPU: stays pending (and holds the nodes for itself)
P=$("$B" submit -N 3 --gpus-per-node 2 --tenant research --name wide -- true) || fail "submit"
wait_state "$P" pending 10 || fail "job $P not pending"
for j in "$S" "$F" "$K" "$P" "$U"; do "$B" show "$j" --json >"show-$j.json" || fail "show $j"; done
"$B" jobs --json >jobs.json || fail "jobs --json"
"$B" nodes --json >nodes.json || fail "nodes --json"

log "tenants while $K runs and $P waits"
if "$B" tenants --json >tenants.json 2>tenants.err; then
    TENANTS=1
    "$B" tenants >tenants.txt || fail "tenants table"
elif grep -q "unknown request" tenants.err; then
    TENANTS=0
    log "SKIP: tenants: this controller does not answer the tenants request yet ($(cat tenants.err))"
else
    fail "tenants --json: $(cat tenants.err)"
fi

"$B" cancel "$K" || fail "cancel $K"
"$B" wait "$P" --timeout 20 >/dev/null || fail "job $P did not succeed after $K was cancelled"
C=$("$B" submit -N 4 --gpus-per-node 2 --name never -- true) || fail "submit"
wait_state "$C" pending 10 || fail "job $C not pending"
"$B" cancel "$C" || fail "cancel pending $C"
for j in "$K" "$C"; do "$B" show "$j" --json >"show-$j-end.json" || fail "show $j"; done
"$B" jobs --all --json >all.json || fail "jobs --all --json"

log "validate against docs/api/schema.json"
validate job show-*.json jobs.json all.json || fail "job JSON does not follow the schema"
validate node nodes.json || fail "node JSON does not follow the schema"
"$PY" - "$S" "$F" "$K" "$P" "$C" "$U" <<'PY' || fail "job states"
import json, sys
s, f, k, p, c, u = sys.argv[1:]
st = lambda j, end="": json.load(open("show-%s%s.json" % (j, end)))
want = {s: "succeeded", f: "failed", k: "running", p: "pending", u: "succeeded"}
for j, w in want.items():
    assert st(j)["state"] == w, (j, st(j)["state"], w)
assert st(k, "-end")["state"] == "cancelled" and st(c, "-end")["state"] == "cancelled"
assert st(f)["exit_code"] == 3 and st(f)["time_limit_min"] == 10, st(f)
assert st(p)["start_time"] is None and st(p)["nodes"] == [] and st(p)["exit_code"] is None
assert st(c, "-end")["start_time"] is None and st(c, "-end")["end_time"] is not None
assert st(u)["argv"][-1] == "not\ufffdutf8", st(u)["argv"]
everything = {j["id"] for j in json.load(open("all.json"))}
assert {int(x) for x in (s, f, k, p, c, u)} <= everything, everything
PY
"$PY" - <<'PY' || fail "node JSON: $(cat nodes.json)"
import json
nodes = {n["name"]: n for n in json.load(open("nodes.json"))}
assert nodes["a"]["telemetry"] is None and nodes["a"]["health"] is None, nodes["a"]
g = nodes["g"]
assert g["telemetry"]["gpus"][0]["power_w"] == 350.0 and g["xids"][0]["xid"] == 13, g
assert g["nvlink_domain"] is not None and g["health"] == "none", g
PY

log "a field added or renamed fails validation"
"$PY" -c '
import json
j = json.load(open("jobs.json"))[0]
json.dump(dict(j, bogus=1), open("added.json", "w"))
j["status"] = j.pop("state")
json.dump(j, open("renamed.json", "w"))
n = json.load(open("nodes.json"))
n[0]["telemetry"] = {"time": 1.0}
json.dump(n, open("nodes-short.json", "w"))
n = json.load(open("nodes.json"))
n[0]["gpus"] = 2.0
json.dump(n, open("nodes-real.json", "w"))'
for f in added renamed; do
    validate job "$f.json" >/dev/null 2>&1 && fail "a job with a field $f passed the schema"
done
validate node nodes-short.json >/dev/null 2>&1 && fail "a node with a partial telemetry object passed"
validate node nodes-real.json >/dev/null 2>&1 && fail "a node whose gpus is a real passed"

log "docs/api/README.md lists every field, in the output's order"
"$PY" - "$ROOT/docs/api/README.md" "$SCHEMA" <<'PY' || fail "docs/api/README.md and the schema or the output disagree"
import json, re, sys
readme, schema = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
tables, cur = {}, None
for line in readme.splitlines():
    m = re.match(r"#+ (job|node|tenant)(\.[a-z_.\[\]]+)?$", line.strip())
    if m:
        cur = m.group(1) + (m.group(2) or "")
        tables[cur] = []
    elif line.startswith("#"):  # another object's section (cli_service.sh checks those)
        cur = None
    elif cur and line.startswith("| `"):
        tables[cur].append(re.match(r"\| `([a-z_]+)`", line).group(1))
d = schema["$defs"]
tel = d["node"]["properties"]["telemetry"]["properties"]
props = {"job": d["job"], "node": d["node"], "tenant": d["tenant"],
         "node.xids[]": d["node"]["properties"]["xids"]["items"],
         "node.telemetry": d["node"]["properties"]["telemetry"],
         "node.telemetry.check": tel["check"], "node.telemetry.gpus[]": tel["gpus"]["items"]}
for k, s in props.items():
    assert tables.get(k) == list(s["properties"]), (k, tables.get(k), list(s["properties"]))
    assert sorted(s["required"]) == sorted(s["properties"]), (k, "not every field required")
    assert s["additionalProperties"] is False, k
job = json.load(open("jobs.json"))[0]
g = [n for n in json.load(open("nodes.json")) if n["name"] == "g"][0]
for k, o in (("job", job), ("node", g), ("node.xids[]", g["xids"][0]),
             ("node.telemetry", g["telemetry"]), ("node.telemetry.check", g["telemetry"]["check"]),
             ("node.telemetry.gpus[]", g["telemetry"]["gpus"][0])):
    assert list(o) == tables[k], (k, list(o), tables[k])
print("README tables match the schema and the output")
PY

if [ "$TENANTS" = 1 ]; then
    log "tenants"
    validate tenant tenants.json || fail "tenant JSON does not follow the schema"
    "$PY" - <<'PY' || fail "tenants: $(cat tenants.json)"
import json
t = {x["name"]: x for x in json.load(open("tenants.json"))}
assert "default" in t and "research" in t, t
r = t["research"]
assert r["jobs_running"] == 1 and r["jobs_pending"] == 1 and r["gpus_running"] == 1, r
assert 0 <= r["fairshare"] <= 1 and r["shares"] > 0, r
PY
    head -n 1 tenants.txt | grep -Eq '^NAME +SHARES +USAGE_GPU_H +FAIRSHARE +PENDING +RUNNING +GPUS$' ||
        fail "tenants table header: $(head -n 1 tenants.txt)"
    grep -Eq '^research +[0-9.]+ +[0-9.]+ +[0-9.]+ +1 +1 +1$' tenants.txt || fail "tenants table: $(cat tenants.txt)"
fi
log "PASS"

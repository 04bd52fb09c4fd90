#!/bin/bash
# cli_service.sh - the service commands of issue 11 against tests/tools/fake_controller.c in
# its service mode (the real protocol; it prints each request's body as JSON and answers with
# sample records of every shape), with no controller of ours:
# - each command sends exactly the request the controller is to answer (docs/cli.md): every
#   field, the "set" list of a tenant/user/QOS set, times parsed to epoch seconds, a hostlist
#   passed as written;
# - --json of every view is valid against its docs/api/schema.json definition, and
#   docs/api/README.md lists every object's fields in the output's order;
# - the text views say what the records say (quota, budget left, FLOPs, signals, reasons);
# - token create prints the credential alone on stdout, and a client presents it from
#   --token FILE, $COLOSSUS_TOKEN or the `up` directory's token, in that order, with --key and
#   $COLOSSUS_KEY where the order says; a revoked token and one made by another controller
#   are refused.
# timeout: 60
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/integration/cluster_lib.bash"
cd "$T"
SCHEMA=$ROOT/docs/api/schema.json
PY=/usr/bin/python3
F=$ROOT/build/tools/fake_controller
[ -x "$F" ] || fail "not built: $F (make check builds it)"
"$PY" -c 'import jsonschema' 2>/dev/null || fail "python3-jsonschema is missing (scripts/install-deps.sh)"
export COLOSSUS_DIR=$T/nodir

FAKE_PID=
# fake: (re)start the fake controller in the service mode (a new identity key each time);
# sets COLOSSUS_CONTROLLER to it.
fake() {
    [ -n "$FAKE_PID" ] && { kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; }
    rm -f fake.log
    "$F" --key "$T/key" --mode service > fake.log 2>&1 &
    FAKE_PID=$!
    PIDS+=($FAKE_PID)
    wait_for 10 grep -q '^port ' fake.log || fail "fake controller did not start"
    export COLOSSUS_CONTROLLER=127.0.0.1:$(sed -n 's/^port //p' fake.log)
}

# run ARGS...: colossus ARGS succeeds; its stdout in out.txt, stderr in err.txt.
run() { "$B" "$@" > out.txt 2> err.txt || fail "colossus $*: exit $?: $(cat err.txt)"; }

# sent PYEXPR: the body of the last request the fake received satisfies PYEXPR (b: the body
# as a dict; now: this second).
sent() {
    "$PY" - "$1" <<'PY' || fail "request: $1"
import json, sys, time
bodies = [l[5:] for l in open("fake.log") if l.startswith("body ")]
b, now = json.loads(bodies[-1]), time.time()
if not eval("(" + sys.argv[1] + ")"):
    sys.exit("the request was %s" % bodies[-1].strip())
PY
}

fake
log "tenants: add, set, show, list"
run tenant add research --parent lab --shares 2 --quota-gpus 16 --cohort eu --borrow-limit 8 \
    --lend-limit all --budget-gpu-hours 1000 --period month --budget-stop
sent 'b["tenant"] == dict(name="research", parent="lab", shares=2.0, quota_gpus=16, cohort="eu",
    borrow_limit=8, lend_limit=-1, budget_gpu_hours=1000.0, budget_period="month",
    budget_stop=True, create=True, set=["parent", "shares", "quota_gpus", "cohort",
    "borrow_limit", "lend_limit", "budget_gpu_hours", "budget_period", "budget_stop"])'
run tenant add plain
sent 'b["tenant"] == dict(name="plain", parent="", shares=1.0, quota_gpus=-1, cohort="",
    borrow_limit=-1, lend_limit=-1, budget_gpu_hours=0.0, budget_period="", budget_stop=False,
    create=True, set=[])'
run tenant set research --quota-gpus none --borrow-limit none --parent '' --period 30d \
    --no-budget-stop
sent 'b["tenant"]["create"] is False and b["tenant"]["set"] == ["quota_gpus", "borrow_limit",
    "parent", "budget_period", "budget_stop"] and b["tenant"]["quota_gpus"] == -1 and
    b["tenant"]["borrow_limit"] == -1 and b["tenant"]["budget_period"] == "30d" and
    not b["tenant"]["budget_stop"]'
run tenant set research --lend-limit 0 --shares 0.5
sent 'b["tenant"]["set"] == ["lend_limit", "shares"] and b["tenant"]["lend_limit"] == 0 and
    b["tenant"]["shares"] == 0.5'
run tenant show research
sent 'b == {"req": 1, "tenant_show": "research"}'
for want in 'quota:         16 GPUs' 'cohort:        eu' 'borrow limit:  8 GPUs' \
    'lend limit:    4 GPUs' 'borrowed:      2 GPUs' \
    'budget:        1000 GPU-hours per calendar month; when spent, running jobs stop' \
    'budget used:   250.5 GPU-hours since 2026-11-01T00:00:00Z, 749.5 left' \
    'jobs:          1 pending, 2 running on 16 GPUs'; do
    grep -qxF "$want" out.txt || fail "tenant show: no line '$want': $(cat out.txt)"
done
run tenant show research --json && cp out.txt tenant-show.json
run tenant list --json && cp out.txt tenants.json
sent 'b == {"req": 1, "tenants": True}'
run tenants
sent 'b == {"req": 1, "tenants": True}'
head -n 1 out.txt | grep -Eq '^NAME +SHARES +USAGE_GPU_H +FAIRSHARE +PENDING +RUNNING +GPUS$' ||
    fail "tenants: $(cat out.txt)"

log "users and QOS"
run user add ada --tenant research:manager --tenant default --uid 1000 --gid 100 --qos gold
sent 'b["user"] == dict(user=dict(name="ada", tenants=[dict(tenant="research", role="manager"),
    dict(tenant="default", role="user")], role="", uid=1000, gid=100, qos="gold",
    disabled=False), set=["tenants", "uid", "gid", "qos"], create=True)'
run user add bob --tenant t --role manager
sent 'b["user"]["user"]["tenants"] == [dict(tenant="t", role="manager")]'
run user set ada --role admin --disable
sent 'b["user"]["create"] is False and b["user"]["set"] == ["role", "disabled"] and
    b["user"]["user"]["role"] == "admin" and b["user"]["user"]["disabled"]'
run user set ada --role none --tenant a --tenant b:manager --enable --qos ''
sent 'b["user"]["set"] == ["role", "tenants", "disabled", "qos"] and
    b["user"]["user"]["role"] == "" and not b["user"]["user"]["disabled"] and
    b["user"]["user"]["tenants"] == [dict(tenant="a", role="user"),
    dict(tenant="b", role="manager")] and b["user"]["user"]["qos"] == ""'
run user list --json && cp out.txt users.json
sent 'b == {"req": 1, "users": True}'
run user list
grep -Eq '^ada +admin +1000 +1000 +gold +no +research:manager,default$' out.txt ||
    fail "user list: $(cat out.txt)"
run qos add gold --max-priority 100 --max-gpus-per-job 64 --max-wall 1d --max-running 4 \
    --preemptible
sent 'b["qos"] == dict(qos=dict(name="gold", max_priority=100, max_gpus_per_job=64,
    max_wall_s=86400.0, max_running_jobs=4, preemptible=True), set=["max_priority",
    "max_gpus_per_job", "max_wall_s", "max_running_jobs", "preemptible"], create=True)'
run qos add plain
sent 'b["qos"]["qos"] == dict(name="plain", max_priority=1000000, max_gpus_per_job=0,
    max_wall_s=0.0, max_running_jobs=0, preemptible=False) and b["qos"]["set"] == []'
run qos set gold --max-wall none --max-gpus-per-job none --no-preemptible
sent 'b["qos"]["create"] is False and b["qos"]["set"] == ["max_wall_s", "max_gpus_per_job",
    "preemptible"] and b["qos"]["qos"]["max_wall_s"] == 0 and
    b["qos"]["qos"]["max_gpus_per_job"] == 0'
run qos list --json && cp out.txt qoses.json
run qos list
grep -Eq '^gold +100 +64 +1-01:00:00 +4 +yes$' out.txt || fail "qos list: $(cat out.txt)"

log "tokens and node credentials"
run token create --user ada --expires 12h --scope read
sent 'b["token_create"]["user"] == "ada" and b["token_create"]["expires_in_s"] == 43200 and
    b["token_create"]["scope"] == "read" and b["token_create"]["node"] is False and
    len(b["token_create"]["public_key"]) == 64'
[ "$(wc -l < out.txt)" = 1 ] || fail "token create: more than the token on stdout: $(cat out.txt)"
grep -Eqx 'colossus-token-v1\.tk-[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}' out.txt ||
    fail "token create: $(cat out.txt)"
grep -qF "colossus token create: the token expires 20" err.txt || fail "token create: $(cat err.txt)"
cp out.txt ada.tok
ADA=$(cut -d. -f2 ada.tok)
run node-token create --nodes 'node[000000-000003],login1' --expires 30d
sent 'b["token_create"]["node"] is True and b["token_create"]["nodes"] ==
    "node[000000-000003],login1" and b["token_create"]["expires_in_s"] == 2592000'
grep -Eqx 'colossus-node-v1\.nd-[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}' out.txt ||
    fail "node-token create: $(cat out.txt)"
run token create
sent 'b["token_create"]["user"] == "" and b["token_create"]["scope"] == "" and
    b["token_create"]["expires_in_s"] == 0'
grep -qF "the token never expires" err.txt || fail "token create: $(cat err.txt)"
cp out.txt alice.tok
run token list --json && cp out.txt tokens.json
sent 'b == {"req": 1, "tokens": True}'
run token list
grep -Eq "^$ADA +read +ada +20[0-9-]+T[0-9:]+Z +20[0-9-]+T[0-9:]+Z +active +-$" out.txt ||
    fail "token list: $(cat out.txt)"
grep -Eq '^nd-[0-9a-f]{16} +node +- .* active +node\[000000-000003\],login1$' out.txt ||
    fail "token list: $(cat out.txt)"
grep -Eq '^tk-00000000000000aa .* revoked ' out.txt || fail "token list: $(cat out.txt)"

log "nodes, history, usage, audit, whoami, jobs"
run node remove node000003
sent 'b == {"req": 1, "node_remove": "node000003"}'
run history --since 2026-11-01 --until 2026-11-02T12:00+02:00 --tenant research --user ada \
    --state failed --limit 10 --job 7
sent 'b["history"] == dict(since=1793491200.0, until=1793491200.0 + 86400 + 36000,
    tenant="research", user="ada", state="failed", by="", limit=10, job=7)'
run history --since 7d --json && cp out.txt history.json
sent 'abs(b["history"]["since"] - (now - 7 * 86400)) < 5 and b["history"]["until"] == 0'
run history
grep -Eq '^7 +2 +train +ada +research +4 +2026-11-01T02:00:00Z +2026-11-01T03:01:01Z +01:01:01 +4\.07 +- +failed +SIGKILL +node000000,node000001$' out.txt ||
    fail "history: $(cat out.txt)"
grep -Eq ' 2\.000 +node_fail +- +node000000,node000001 \(node000001 died\)$' out.txt ||
    fail "history: $(cat out.txt)"
run usage --by day --since 2026-11-01T00:00:00Z --json && cp out.txt usage.json
sent 'b["usage"]["by"] == "day" and b["usage"]["since"] == 1793491200.0'
run usage
sent 'b["usage"]["by"] == "tenant"'
grep -Eq '^TENANT +GPU_HOURS +ENERGY_KWH +FLOPS +RUNS$' out.txt || fail "usage: $(cat out.txt)"
grep -Eq '^research +1234\.50 +812\.250 +1\.2 ZFLOP +17$' out.txt || fail "usage: $(cat out.txt)"
grep -Eq '^default +0\.50 +- +- +1$' out.txt || fail "usage: $(cat out.txt)"
run usage --by month
head -n 1 out.txt | grep -q '^MONTH ' || fail "usage --by month: $(cat out.txt)"
run audit --since 2026-11-01T01:00+01:00 --user bob --limit 5 --json && cp out.txt audit.json
sent 'b["audit"] == dict(since=1793491200.0, user="bob", limit=5)'
run audit
grep -Eq '^2026-11-01T00:01:00Z +user bob +cancel +job 7 +refused +not a job of your tenants$' out.txt ||
    fail "audit: $(cat out.txt)"
run whoami --json && cp out.txt whoami-key.json
sent 'b == {"req": 1, "whoami": True}'
run jobs --json && cp out.txt jobs.json
run jobs
grep -Eq "^8 +wide +bob +pending .*\(tenant research's quota of 16 GPUs is reached\)$" out.txt ||
    fail "jobs: $(cat out.txt)"
grep -Eq '^7 +train +ada +running .* node000000$' out.txt || fail "jobs: $(cat out.txt)"
run show 8 --json && cp out.txt show-8.json
run show 8
grep -qxF "why pending:  tenant research's quota of 16 GPUs is reached" out.txt || fail "show: $(cat out.txt)"
run show 7
grep -qxF "usage:        2.00 GPU-hours, 1.000 kWh so far" out.txt || fail "show: $(cat out.txt)"
grep -qxF "user:         ada" out.txt || fail "show: $(cat out.txt)"

log "the credential a client presents"
# auth: the token the fake saw on the last connection ("key": the cluster key)
auth() { tac fake.log | sed '/^connection$/q' | sed -n 's/^auth token //p' | grep . || echo key; }
ALICE=$(cut -d. -f2 alice.tok)
run whoami --token ada.tok
[ "$(auth)" = "$ADA" ] || fail "--token: $(auth)"
grep -qxF "principal: user ada (token $ADA)" out.txt || fail "whoami: $(cat out.txt)"
run whoami --token ada.tok --json && cp out.txt whoami-token.json
COLOSSUS_TOKEN=$(cat alice.tok) run whoami
[ "$(auth)" = "$ALICE" ] || fail "\$COLOSSUS_TOKEN (over \$COLOSSUS_KEY): $(auth)"
COLOSSUS_TOKEN=$(cat alice.tok) run whoami --token ada.tok
[ "$(auth)" = "$ADA" ] || fail "--token over \$COLOSSUS_TOKEN: $(auth)"
COLOSSUS_TOKEN=$(cat alice.tok) run whoami --key "$T/key"
[ "$(auth)" = key ] || fail "--key over \$COLOSSUS_TOKEN: $(auth)"
mkdir -p up && cp "$T/key" up/key && cp ada.tok up/token
COLOSSUS_DIR=$T/up COLOSSUS_KEY= run whoami
[ "$(auth)" = "$ADA" ] || fail "the up directory's token: $(auth)"
COLOSSUS_DIR=$T/up run whoami
[ "$(auth)" = key ] || fail "\$COLOSSUS_KEY over the up directory's token: $(auth)"
rm up/token
COLOSSUS_DIR=$T/up COLOSSUS_KEY= run whoami
[ "$(auth)" = key ] || fail "the up directory's key: $(auth)"
run token revoke "$ADA"
sent "b == {\"req\": 1, \"token_revoke\": \"$ADA\"}"
rc=0
"$B" whoami --token ada.tok > out.txt 2> err.txt || rc=$?
[ $rc = 1 ] && grep -qF "refused" err.txt || fail "a revoked token: exit $rc: $(cat err.txt)"
fake # another controller: another identity key
rc=0
"$B" whoami --token alice.tok > out.txt 2> err.txt || rc=$?
[ $rc = 1 ] && grep -qF "is not the one this token $ALICE was made by" err.txt ||
    fail "another controller's token: exit $rc: $(cat err.txt)"
! grep -q '^request' fake.log || fail "a request reached another controller: $(cat fake.log)"

log "the JSON against docs/api/schema.json, and docs/api/README.md"
"$PY" - "$SCHEMA" "$ROOT/docs/api/README.md" <<'PY' || fail "JSON or README"
import json, re, sys
import jsonschema
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
strict = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
V = jsonschema.validators.extend(Draft202012Validator, type_checker=strict)
d = schema["$defs"]
files = {"tenant": ["tenants.json", "tenant-show.json"], "user": ["users.json"],
         "qos": ["qoses.json"], "token": ["tokens.json"], "usage_record": ["history.json"],
         "usage_row": ["usage.json"], "audit_record": ["audit.json"],
         "whoami": ["whoami-key.json", "whoami-token.json"], "job": ["jobs.json", "show-8.json"]}
first = {}
for name, fs in files.items():
    v = V(dict(d[name], **{"$schema": schema["$schema"]}))
    for f in fs:
        doc = json.load(open(f))
        for o in doc if isinstance(doc, list) else [doc]:
            errs = list(v.iter_errors(o))
            assert not errs, (f, name, [e.message for e in errs])
            first.setdefault(name, o)
    print("%s: valid" % name)
# every shape was seen: nulls and values
t = {x["name"]: x for x in json.load(open("tenants.json"))}
assert t["default"]["quota_gpus"] is None and t["default"]["budget_gpu_hours"] is None, t
assert t["research"]["budget_left_gpu_hours"] == 749.5 and t["research"]["lend_limit"] == 4, t
h = json.load(open("history.json"))
assert [r["signal"] for r in h] == [None, 9, None] and h[0]["exit_code"] is None, h
assert h[0]["flops"] == 1.2e18 and h[1]["energy_j"] is None and h[2]["exit_code"] == 0, h
assert json.load(open("whoami-key.json"))["user"] is None
assert json.load(open("whoami-token.json"))["user"]["name"] == "ada"
assert json.load(open("show-8.json"))["pending_reason"].startswith("tenant research")
# README: one table per object, its fields in the schema's order and the output's
readme = open(sys.argv[2]).read()
tables, cur = {}, None
for line in readme.splitlines():
    m = re.match(r"#+ ([a-z_]+(\.[a-z_.\[\]]+)?)$", line.strip())
    if m:
        cur = m.group(1)
        tables[cur] = []
    elif line.startswith("#"):
        cur = None
    elif cur and line.startswith("| `"):
        tables[cur].append(re.match(r"\| `([a-z_]+)`", line).group(1))
for name in d:
    assert tables.get(name) == list(d[name]["properties"]), (name, tables.get(name))
    assert sorted(d[name]["required"]) == sorted(d[name]["properties"]), name
    assert d[name]["additionalProperties"] is False, name
for name, o in first.items():
    assert list(o) == tables[name], (name, list(o), tables[name])
# whoami's user is the user object, field for field
assert d["whoami"]["properties"]["user"]["properties"] == d["user"]["properties"]
print("README tables match the schema and the output")
PY
log "PASS"

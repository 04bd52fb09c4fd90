#!/bin/bash
# api_watch.sh - the watch stream (GET /api/v1/watch, docs/api/README.md "Watch") against a
# real controller and agents: a job's life (pending, running, succeeded) in order with rising
# ids, every job event valid against docs/api/schema.json's job; a drain (draining with its
# job, drained once the job is cancelled) and a resume as node events, a node's jobs only
# those the token may see (and no node event for a watcher of jobs only); an agent killed
# with -9 gives its node's `down` within the detection time; a user of tenant A sees no job
# of tenant B's (and B none of A's); a watcher that does not keep up gets `overflow` and is
# closed while another keeps receiving; watchers count against the listener's connection
# limit (and one that went away stops counting); a revoked token's stream ends with an
# `error` event; keepalives at most 15 s apart on a quiet stream that outlives the idle
# timeout; 401 for a bad token, 400 for a bad `kinds`, 405 for POST.
# timeout: 180
. "$(dirname "$0")/cluster_lib.bash"

command -v curl >/dev/null || { echo "curl is missing"; exit 77; }
PY=/usr/bin/python3
"$PY" -c 'import jsonschema' 2>/dev/null || fail "python3-jsonschema is missing (scripts/install-deps.sh)"
SSE=$(cd "$(dirname "$0")" && pwd)/sse_watch.py
SCHEMA=$(cd "$(dirname "$0")/../.." && pwd)/docs/api/schema.json
MAXC=8
start_controller --http 127.0.0.1:0 --http-address-file "$T/http-address" --http-idle-timeout 2 \
    --http-max-connections $MAXC
H=$(cat "$T/http-address")
agents_pub

api_people
echo "colossus-token-v1.garbage" >"$T/garbage.tok"

# api METHOD PATH TOKEN-FILE [BODY]: the status in ST, the body in $T/body
api() {
    local a=(-s -o "$T/body" -w '%{http_code}' -X "$1" --max-time 10
        -H "Authorization: Bearer $(cat "$3")")
    [ $# -gt 3 ] && a+=(-H 'Content-Type: application/json' --data-binary "$4")
    ST=$(curl "${a[@]}" "$H$2")
}
# watch NAME TOKEN-FILE [QUERY] [--slow GO-FILE]: a reader in the background, its units as
# JSON lines in $T/NAME.w; waits until the stream is open (its first comment)
declare -A WPID
watch() {
    local name=$1 tok=$2 query=${3:-}
    shift $(($# < 3 ? $# : 3))
    "$PY" "$SSE" "$H/api/v1/watch$query" "$tok" "$T/$name.w" "$@" 2>>"$T/$name.err" &
    WPID[$name]=$!
    PIDS+=($!)
    wait_for 10 grep -q '"comment": "watching"' "$T/$name.w" || fail "watch $name did not open: $(cat "$T/$name.w" "$T/$name.err" 2>/dev/null)"
}
# wait_w NAME SECONDS PYTHON-EXPR: until some unit u of NAME's stream makes EXPR true
wait_w() {
    wait_for "$2" "$PY" -c "
import json, sys
for l in open('$T/$1.w'):
    u = json.loads(l)
    if $3: sys.exit(0)
sys.exit(1)"
}
# submit TOKEN-FILE BODY|@FILE: through REST; the new job's id in JOB
submit() {
    api POST /api/v1/jobs "$1" "$2"
    [ "$ST" = 201 ] || fail "submit: $ST $(head -c 300 "$T/body")"
    JOB=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/body")
}
# wait_job NAME JOB STATE SECONDS: until NAME's stream has JOB in STATE
wait_job() {
    wait_w "$1" "$4" "u.get('event') == 'job' and u['data']['id'] == $2 and u['data']['state'] == '$3'" ||
        fail "$1: no event of job $2 $3 within $4 s: $(tail -c 600 "$T/$1.w")"
}
# units NAME PYTHON-EXPR: the units u of NAME's stream (as JSON lines) for which EXPR holds
units() {
    "$PY" -c "
import json
for l in open('$T/$1.w'):
    u = json.loads(l)
    if $2: print(json.dumps(u))"
}

log "401 for a bad token, 400 for a bad kinds, 405 for POST"
api GET /api/v1/watch "$T/garbage.tok"
[ "$ST" = 401 ] || fail "bad token: $ST $(cat "$T/body")"
api GET "/api/v1/watch?kinds=tenants" "$T/alice.tok"
[ "$ST" = 400 ] && grep -q "kinds" "$T/body" || fail "kinds=tenants: $ST $(cat "$T/body")"
api POST /api/v1/watch "$T/alice.tok"
[ "$ST" = 405 ] || fail "POST: $ST"

watch op "$T/oscar.tok"
watch alice "$T/alice.tok" "?kinds=jobs"
watch bob "$T/bob.tok"
units op 'u.get("status")' | grep -q '"content-type": "text/event-stream"' || fail "content type: $(head -1 "$T/op.w")"
units op 'u.get("status")' | grep -q '"cache-control": "no-store"' || fail "cache-control: $(head -1 "$T/op.w")"

log "a job's life"
submit "$T/alice.tok" '{"argv":["/bin/sleep","0.5"],"gpus_per_node":1,"name":"life"}'
J=$JOB
wait_job op $J succeeded 30
wait_job alice $J succeeded 10
for w in op alice; do
    "$PY" - "$T/$w.w" "$J" <<'PY' || fail "$w: the job's events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ev = [u for u in ev if "id" in u]
ids = [u["id"] for u in ev]
assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids do not rise: %s" % ids
states = [u["data"]["state"] for u in ev if u["event"] == "job" and u["data"]["id"] == int(sys.argv[2])]
seen = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
assert seen == ["pending", "running", "succeeded"], states
PY
done
# every job event's data is the schema's job
units op "u.get('event') == 'job'" | "$PY" -c '
import json, sys
print(json.dumps([json.loads(l)["data"] for l in sys.stdin]))' >"$T/jobs.json"
"$PY" - "$SCHEMA" "$T/jobs.json" <<'PY' || fail "a job event is not the schema's job"
import json, sys
import jsonschema
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
strict = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
V = jsonschema.validators.extend(Draft202012Validator, type_checker=strict)
v = V(dict(schema["$defs"]["job"], **{"$schema": schema["$schema"]}))
docs = json.load(open(sys.argv[2]))
assert docs, "no job event"
for o in docs:
    errs = list(v.iter_errors(o))
    assert not errs, "; ".join(e.message for e in errs)
print("%d job events valid" % len(docs))
PY

log "tenants: bob sees his job, none of alice's; alice none of bob's"
submit "$T/bob.tok" '{"argv":["/bin/true"],"gpus_per_node":1,"name":"bobs"}'
wait_job bob $JOB succeeded 30
wait_job op $JOB succeeded 10
[ -z "$(units bob "u.get('event') == 'job' and u['data']['tenant'] != 'B'")" ] || fail "bob saw another tenant's job"
[ -z "$(units alice "u.get('event') == 'job' and u['data']['tenant'] != 'A'")" ] || fail "alice saw another tenant's job"
[ -z "$(units alice "u.get('event') == 'node'")" ] || fail "alice asked for jobs only and got a node"

log "drain (with a job on the node), cancel, resume: node events; a node's jobs as the token may see them"
submit "$T/alice.tok" '{"argv":["/bin/sleep","60"],"gpus_per_node":1,"name":"long"}'
JL=$JOB
wait_job op $JL running 30
N=$(units op "u.get('event') == 'job' and u['data']['id'] == $JL and u['data']['state'] == 'running'" |
    "$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["data"]["nodes"][0])')
api POST "/api/v1/nodes/$N/drain" "$T/oscar.tok" '{"reason":"fan"}'
[ "$ST" = 200 ] || fail "drain: $ST $(cat "$T/body")"
wait_w op 10 "u.get('event') == 'node' and u['data']['name'] == '$N' and u['data']['state'] == 'draining' and u['data']['reason'] == 'fan' and $JL in u['data']['jobs']" ||
    fail "no draining event with job $JL on $N: $(tail -3 "$T/op.w")"
wait_w bob 10 "u.get('event') == 'node' and u['data']['name'] == '$N' and u['data']['state'] == 'draining'" ||
    fail "bob got no node event (kinds default to both)"
[ -z "$(units bob "u.get('event') == 'node' and $JL in u['data']['jobs']")" ] || fail "bob saw alice's job on $N"
api DELETE "/api/v1/jobs/$JL" "$T/alice.tok"
[ "$ST" = 200 ] || fail "cancel: $ST $(cat "$T/body")"
wait_job op $JL cancelled 10
wait_w op 10 "u.get('event') == 'node' and u['data']['name'] == '$N' and u['data']['state'] == 'drained' and u['data']['jobs'] == []" ||
    fail "no drained event once the job left $N: $(tail -3 "$T/op.w")"
api POST "/api/v1/nodes/$N/resume" "$T/oscar.tok"
[ "$ST" = 200 ] || fail "resume: $ST"
wait_w op 10 "u.get('event') == 'node' and u['data']['name'] == '$N' and u['data']['state'] == 'up' and u['id'] > $(units op "u.get('event') == 'node' and u['data']['state'] == 'drained'" | "$PY" -c 'import json,sys; print(max(json.loads(l)["id"] for l in sys.stdin))')" ||
    fail "no up event after the resume"
[ -z "$(units alice "u.get('event') == 'node'")" ] || fail "alice asked for jobs only and got a node"

log "watchers count against the connection limit ($MAXC); one that went away stops counting"
for i in 1 2 3 4 5; do watch "fill$i" "$T/alice.tok" "?kinds=nodes"; done # 8 streams
rc=0
curl -s -o /dev/null --max-time 5 -H "Authorization: Bearer $(cat "$T/alice.tok")" "$H/api/v1/whoami" || rc=$?
[ $rc != 0 ] || fail "a 9th connection was served with $MAXC open"
for i in 1 2 3 4 5; do kill "${WPID[fill$i]}"; done
wait_for 10 curl -sf -o /dev/null --max-time 2 -H "Authorization: Bearer $(cat "$T/alice.tok")" "$H/api/v1/whoami" ||
    fail "the closed watchers still count"

log "a keepalive on a quiet stream, past the idle timeout (2 s)"
n0=$(units alice 'u.get("comment") == "keepalive"' | wc -l)
wait_for 20 bash -c "[ \$(grep -c '\"comment\": \"keepalive\"' '$T/alice.w') -gt $n0 ]" || fail "no keepalive within 20 s"
"$PY" - "$T/alice.w" <<'PY' || fail "keepalives too far apart"
import json, sys
u = [json.loads(l) for l in open(sys.argv[1])]
k = max(i for i, x in enumerate(u) if x.get("comment") == "keepalive")
gap = u[k]["t"] - u[k - 1]["t"]
assert gap <= 15.5, "%.1f s between the keepalive and what came before it" % gap
print("  keepalive %.1f s after the stream's last unit" % gap)
PY
[ -z "$(units alice 'u.get("eof")')" ] || fail "alice's stream ended: $(tail -2 "$T/alice.w")"

log "a revoked token's stream ends (error), within a keepalive period"
"$B" token create --user alice >"$T/alice2.tok" 2>/dev/null || fail "alice's second token"
watch revoked "$T/alice2.tok" "?kinds=jobs"
"$B" token revoke "$(cut -d. -f2 "$T/alice2.tok")" >/dev/null || fail "token revoke"
wait_w revoked 10 "u.get('event') == 'error'" || fail "the revoked token's stream goes on: $(tail -2 "$T/revoked.w")"
wait_w revoked 5 "u.get('eof')" || fail "the revoked token's stream did not end"
[ -z "$(units alice 'u.get("eof")')" ] || fail "alice's other stream ended too"

log "a node killed with -9 is down within the detection time"
t0=$(date +%s%N)
kill_node n2
wait_w op $((DEAD_MS / 1000 + 5)) "u.get('event') == 'node' and u['data']['name'] == 'n2' and u['data']['state'] == 'down'" ||
    fail "no down event for n2"
ms=$((($(date +%s%N) - t0) / 1000000))
log "  down event after $ms ms (dead after $DEAD_MS ms)"
[ $ms -le $((DEAD_MS * 3 + 1000)) ] || fail "the down event came after $ms ms"

# A client that stops reading is closed after the idle timeout once the kernel's buffers are
# full (nothing moves): a controller with a longer one, to see the overflow event arrive.
log "a watcher that does not keep up: overflow, closed; the other keeps receiving"
stop_all
start_controller --http 127.0.0.1:0 --http-address-file "$T/http-address" --http-idle-timeout 60
H=$(cat "$T/http-address")
start_agent n1 2
wait_nodes_up 1
watch op "$T/oscar.tok"
watch slow "$T/oscar.tok" "" --slow "$T/slow.go"
for i in $(seq 8); do # ~700 KB of arguments each: ~3 MB of events a job
    "$PY" -c 'import json,sys; print(json.dumps({"argv": ["/bin/true"] + ["x" * 100000] * 7,
        "gpus_per_node": 1, "name": "big" + sys.argv[1]}))' $i >"$T/big.json"
    submit "$T/oscar.tok" "@$T/big.json"
done
wait_for 30 grep -q "did not keep up" "$T/controller.log" || fail "the slow watcher was not dropped"
grep "did not keep up" "$T/controller.log" | head -1
touch "$T/slow.go"
wait_w slow 30 "u.get('eof')" || fail "the slow stream did not end"
"$PY" - "$T/slow.w" <<'PY' || fail "the slow stream's end"
import json, sys
u = [json.loads(l) for l in open(sys.argv[1])]
assert u[-1].get("eof"), u[-1]
last = u[-2]
assert last.get("event") == "overflow" and "error" in last["data"], str(last)[:300]
print("  slow: %d events, then overflow: %s" % (sum(1 for x in u if "id" in x), last["data"]["error"]))
PY
wait_job op $JOB succeeded 60 # the last big one
[ -z "$(units op 'u.get("eof") or u.get("event") == "overflow"')" ] || fail "the operator's watcher was dropped"
submit "$T/oscar.tok" '{"argv":["/bin/true"],"gpus_per_node":1,"name":"after"}'
wait_job op $JOB succeeded 30
log "PASS"

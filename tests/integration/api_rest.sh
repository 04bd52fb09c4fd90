#!/bin/bash
# api_rest.sh - the REST API (docs/api/README.md) against a real controller and agents: whoami;
# a job submitted through REST runs to completion (its GET is the CLI's show --json); a list
# paged across pages with its cursor; cancel; drain and resume; a user of tenant A gets 404 for
# tenant B's job (the same answer as for a job that does not exist) and 403 for drain; 401 for
# a missing, garbage, revoked (after it was cached) or expired token; 400s naming the field or
# parameter; 413 for a body over 1 MiB (by Content-Length and by the bytes of a chunked one);
# 404 and 405; and a client holding a half-sent request neither blocks other HTTP clients nor
# the framed protocol, and is closed after the idle timeout; issue 15's submit fields
# (ntasks_per_node, chdir, output) run end to end, and bad ones are 400s naming them.
# timeout: 180
. "$(dirname "$0")/cluster_lib.bash"

command -v curl >/dev/null || { echo "curl is missing"; exit 77; }
# The controller dlopens libmicrohttpd for --http: no command of the binary loads it (or
# GnuTLS behind it) at start, as none loads libjwt (OpenSSL).
if ldd "$B" | grep -E 'libmicrohttpd|libgnutls|libjwt|libcrypto'; then
    fail "$B is linked to a library it should dlopen"
fi
for a in 0.0.0.0:0 10.1.2.3:80 [::]:0; do
    rc=0
    "$B" controller --state-dir "$T/no" --listen 127.0.0.1:0 --key "$T/key" --http "$a" \
        2>"$T/err" || rc=$?
    [ $rc = 2 ] && grep -q "needs TLS" "$T/err" || fail "--http $a: exit $rc: $(cat "$T/err")"
done
start_controller --http 127.0.0.1:0 --http-address-file "$T/http-address" --http-idle-timeout 2
H=$(cat "$T/http-address")
case "$H" in http://127.0.0.1:[0-9]*) ;; *) fail "http-address: '$H'" ;; esac
agents_pub

api_people
echo "colossus-token-v1.garbage" >"$T/garbage.tok"

# api METHOD PATH TOKEN-FILE|"" [BODY|@FILE] [CURL-ARGS...]: the status in ST, the body in
# $T/body, the headers in $T/headers
api() {
    local m=$1 p=$2 tok=$3
    shift 3
    local a=(-s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$m" --max-time 10)
    [ -n "$tok" ] && a+=(-H "Authorization: Bearer $(cat "$tok")")
    if [ $# -gt 0 ]; then
        a+=(-H 'Content-Type: application/json' --data-binary "$1")
        shift
    fi
    ST=$(curl "${a[@]}" "$@" "$H$p")
}
body() { jfield "$1" <"$T/body"; }
# want STATUS [WORDS]: the last answer had STATUS, and for an error a JSON error with WORDS
want() {
    [ "$ST" = "$1" ] || fail "status $ST, not $1: $(cat "$T/body")"
    if [ "$1" -ge 400 ]; then
        local e
        e=$(body 'd["error"]') || fail "status $1 without a JSON error: $(cat "$T/body")"
        [ -z "${2:-}" ] || [[ $e == *"$2"* ]] || fail "error '$e' does not say '$2'"
        log "  $1: $e"
    fi
}
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip"; }

log "whoami"
api GET /api/v1/whoami "$T/alice.tok"
want 200
[ "$(body 'd["user"]["name"], d["role"]')" = "alice user" ] || fail "whoami: $(cat "$T/body")"
[[ $(body 'd["principal"]') == "user alice (token tk-"* ]] || fail "principal: $(cat "$T/body")"

log "401s: no token, another scheme, garbage, a node credential's kind"
api GET /api/v1/whoami ""
want 401 "no credential"
header WWW-Authenticate | grep -q '^Bearer' || fail "no WWW-Authenticate: $(cat "$T/headers")"
ST=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Authorization: Basic YTpi' "$H/api/v1/whoami")
want 401 "Bearer"
api GET /api/v1/jobs "$T/garbage.tok"
want 401 "malformed"
header WWW-Authenticate | grep -q 'invalid_token' || fail "WWW-Authenticate: $(cat "$T/headers")"

log "a job submitted through REST runs to completion"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["sh", "-c", "echo rest"], "gpus_per_node": 1, "name": "r1"}'
want 201
J=$(body 'd["id"]')
[ "$(header Location)" = "/api/v1/jobs/$J" ] || fail "Location: $(header Location)"
state_is() { api GET "/api/v1/jobs/$1" "$T/alice.tok" && [ "$ST" = 200 ] && [ "$(body 'd["state"]')" = "$2" ]; }
wait_for 30 state_is "$J" succeeded || fail "job $J did not succeed: $(cat "$T/body")"
[ "$(body 'd["user"], d["tenant"], d["exit_code"], d["name"]')" = "alice A 0 r1" ] ||
    fail "job $J: $(cat "$T/body")"
# the same rendering as the CLI's --json
COLOSSUS_TOKEN=$(cat "$T/alice.tok") "$B" show "$J" --json >"$T/cli.json" || fail "show $J"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(a != b)' \
    "$T/body" "$T/cli.json" || fail "REST and CLI differ: $(cat "$T/body") vs $(cat "$T/cli.json")"

log "a list across pages"
for i in 1 2 3 4; do
    api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["true"], "gpus_per_node": 1}'
    want 201
done
JB=$(COLOSSUS_TOKEN=$(cat "$T/bob.tok") "$B" submit --gpus-per-node 1 -- sleep 600) || fail "bob's job"
want_ids=$(COLOSSUS_TOKEN=$(cat "$T/alice.tok") "$B" jobs --all --json | jfield '" ".join(str(j["id"]) for j in d)')
[ "$(echo "$want_ids" | wc -w)" = 5 ] || fail "alice's jobs: $want_ids"
got= after= pages=0
while :; do
    api GET "/api/v1/jobs?all=true&limit=2${after:+&after=$after}" "$T/alice.tok"
    want 200
    n=$(body 'len(d["jobs"])')
    [ "$n" -le 2 ] || fail "a page of $n jobs (limit 2)"
    got="$got $(body '" ".join(str(j["id"]) for j in d["jobs"])')"
    pages=$((pages + 1))
    after=$(body '"" if d["next"] is None else d["next"]')
    [ -z "$after" ] && break
    [ $pages -lt 10 ] || fail "pages do not end: $got"
done
[ "$(echo $got)" = "$(echo $want_ids)" ] || fail "paged ids '$got', the CLI's '$want_ids'"
[ $pages = 3 ] || fail "$pages pages for 5 jobs of 2 a page"
api GET "/api/v1/jobs?state=succeeded&user=alice&tenant=A" "$T/alice.tok"
want 200
[ "$(body 'len(d["jobs"])')" = 5 ] || fail "filtered list: $(cat "$T/body")"
api GET "/api/v1/jobs?state=running" "$T/alice.tok"
want 200
[ "$(body 'len(d["jobs"])')" = 0 ] || fail "alice sees a running job (bob's?): $(cat "$T/body")"

log "tenant isolation: bob's job is a 404 for alice, as one that does not exist"
wait_for 20 bash -c "COLOSSUS_TOKEN=\$(cat $T/bob.tok) '$B' show $JB --json | grep -q '\"running\"'" ||
    fail "bob's job did not start"
api GET "/api/v1/jobs/$JB" "$T/alice.tok"
want 404
[ "$(body 'd["error"]')" = "no job $JB" ] || fail "another tenant's job: $(cat "$T/body")"
api GET /api/v1/jobs/999999 "$T/alice.tok"
want 404
[ "$(body 'd["error"]')" = "no job 999999" ] || fail "a missing job: $(cat "$T/body")"
api POST "/api/v1/jobs/$JB/cancel" "$T/alice.tok"
want 404 "no job $JB"
api POST /api/v1/nodes/n1/drain "$T/alice.tok" '{"reason": "pwned"}'
want 403 "permission denied"
api GET "/api/v1/jobs/$JB" "$T/bob.tok"
want 200
[ "$(body 'd["state"]')" = running ] || fail "bob's job after alice's tries: $(cat "$T/body")"

log "cancel"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["sleep", "600"], "gpus_per_node": 1}'
want 201
JC=$(body 'd["id"]')
wait_for 20 state_is "$JC" running || fail "job $JC did not start: $(cat "$T/body")"
api POST "/api/v1/jobs/$JC/cancel" "$T/alice.tok"
want 200
[ "$(body 'd["id"]')" = "$JC" ] || fail "cancel: $(cat "$T/body")"
wait_for 20 state_is "$JC" cancelled || fail "job $JC not cancelled: $(cat "$T/body")"
api DELETE "/api/v1/jobs/$JC" "$T/alice.tok"
want 409 "already"
api DELETE "/api/v1/jobs/$JB" "$T/bob.tok"
want 200

log "nodes: a page at a time, one by name, drain and resume"
api GET "/api/v1/nodes?limit=1" "$T/alice.tok"
want 200
[ "$(body 'len(d["nodes"]), d["next"] is not None')" = "1 True" ] || fail "page 1: $(cat "$T/body")"
first=$(body 'd["nodes"][0]["name"]')
api GET "/api/v1/nodes?limit=1&after=$(body 'd["next"]')" "$T/alice.tok"
want 200
second=$(body 'd["nodes"][0]["name"]')
[ "$(body 'd["next"]')" = None ] || fail "page 2: $(cat "$T/body")"
[ "$(echo $first $second | tr ' ' '\n' | sort | paste -sd ' ')" = "n1 n2" ] || fail "pages: $first $second"
api POST /api/v1/nodes/n2/drain "$T/oscar.tok" '{"reason": "fan noise"}'
want 200
api GET /api/v1/nodes/n2 "$T/alice.tok"
want 200
[ "$(body 'd["reason"]')" = "fan noise" ] || fail "drained node: $(cat "$T/body")"
[[ $(body 'd["state"]') == drain* ]] || fail "drained node: $(cat "$T/body")"
api GET "/api/v1/nodes?state=drained,draining" "$T/alice.tok"
[ "$(body '[n["name"] for n in d["nodes"]]')" = "['n2']" ] || fail "state filter: $(cat "$T/body")"
api POST /api/v1/nodes/n2/resume "$T/oscar.tok"
want 200
node_up() { api GET /api/v1/nodes/n2 "$T/alice.tok" && [ "$(body 'd["state"]')" = up ]; }
wait_for 10 node_up || fail "n2 not up after resume: $(cat "$T/body")"
api GET /api/v1/nodes/nope "$T/alice.tok"
want 404 "no node named 'nope'"
api POST /api/v1/nodes/nope/drain "$T/oscar.tok"
want 404 "no node named"

log "issue 15's fields through REST: one task per node, --chdir, --output"
api POST /api/v1/jobs "$T/alice.tok" "{\"argv\": [\"sh\", \"-c\", \"echo T=\$LOCAL_WORLD_SIZE C=\$CUDA_VISIBLE_DEVICES\"], \"gpus_per_node\": 2, \"ntasks_per_node\": 1, \"chdir\": \"$T/pub\", \"output\": \"rest.%j.%t\"}"
want 201
JS=$(body 'd["id"]')
wait_for 30 state_is "$JS" succeeded || fail "job $JS did not succeed: $(cat "$T/body")"
[ "$(body 'd["ntasks_per_node"], d["chdir"], d["cwd"], d["output"]')" = "1 True $T/pub rest.%j.%t" ] ||
    fail "job $JS: $(cat "$T/body")"
grep -qx "T=1 C=[0-9],[0-9]" "$T/pub/rest.$JS.0" || fail "rest.$JS.0: $(cat "$T/pub/rest.$JS.0" 2>&1)"
[ "$(stat -c %u "$T/pub/rest.$JS.0")" = 61001 ] || fail "the output file is not alice's"

log "400s name the field or parameter"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["true"'
want 400 "malformed JSON"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["true"], "num_nodes": "2"}'
want 400 "'num_nodes'"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["true"], "gpus": 1}'
want 400 "unknown field 'gpus'"
api POST /api/v1/jobs "$T/alice.tok" '{"name": "x"}'
want 400 "'argv' is required"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["true"], "chdir": "rel"}'
want 400 "'chdir' must be an absolute path"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["true"], "output": "o.%q"}'
want 400 "unknown pattern '%q'"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["true"], "ntasks_per_node": 0}'
want 400 "'ntasks_per_node'"
api POST /api/v1/jobs "$T/alice.tok" '{"argv": ["true"], "tenant": "B"}'
want 403 "not in tenant B"
api GET "/api/v1/jobs?limit=0" "$T/alice.tok"
want 400 "'limit'"
api GET "/api/v1/jobs?sort=id" "$T/alice.tok"
want 400 "unknown query parameter 'sort'"
api POST /api/v1/nodes/n1/drain "$T/oscar.tok" '{"reason": 5}'
want 400 "'reason'"

log "413 for a body over 1 MiB"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/big.json"
api POST /api/v1/jobs "$T/alice.tok" "@$T/big.json"
want 413 "limit"
api POST /api/v1/jobs "$T/alice.tok" "@$T/big.json" -H 'Transfer-Encoding: chunked'
want 413 "limit"

log "404 and 405"
api GET /api/v1/nothing "$T/alice.tok"
want 404 "no resource"
api GET /metricz "$T/alice.tok" # outside /api/v1 (and not /metrics: metrics_prom.sh)
want 404
api PUT /api/v1/jobs "$T/alice.tok"
want 405 "PUT"
[ "$(header Allow)" = "GET, POST" ] || fail "Allow: $(header Allow)"

log "401 for a revoked token (after it was cached) and an expired one"
"$B" token create --user alice >"$T/rev.tok" || fail "token to revoke"
api GET /api/v1/whoami "$T/rev.tok"
want 200
"$B" token revoke "$(cut -d. -f2 "$T/rev.tok")" >/dev/null || fail "token revoke"
api GET /api/v1/whoami "$T/rev.tok"
want 401 "revoked"
"$B" token create --user alice --expires 2s >"$T/exp.tok" || fail "short token"
expired() { api GET /api/v1/whoami "$T/exp.tok" && [ "$ST" = 401 ]; }
wait_for 10 expired || fail "the expired token still works: $ST $(cat "$T/body")"
want 401 "expired"

log "a half-sent request holds nobody up, and is closed after the idle timeout"
python3 - "$H" "$B" "$T/alice.tok" <<'PY' || fail "half-sent request"
import os, socket, subprocess, sys, time, urllib.request
base, colossus, tokfile = sys.argv[1:4]
host, port = base[len("http://"):].split(":")
tok = open(tokfile).read().strip()
held = []
for part in (b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"argv\"",
             b"GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\nAuthor"):
    s = socket.create_connection((host, int(port)))
    s.sendall(part)
    held.append(s)
t0 = time.monotonic()
req = urllib.request.Request(base + "/api/v1/whoami", headers={"Authorization": "Bearer " + tok})
with urllib.request.urlopen(req, timeout=5) as r:
    assert r.status == 200, r.status
subprocess.run([colossus, "nodes", "--json"], check=True, timeout=5, stdout=subprocess.DEVNULL)
took = time.monotonic() - t0
assert took < 1.5, "others waited %.2f s" % took
for s in held:  # the server closes them after --http-idle-timeout (2 s)
    s.settimeout(15)
    data = s.recv(4096)
    while data:
        data = s.recv(4096)
print("half-sent requests closed after %.1f s" % (time.monotonic() - t0))
PY

log "Idempotency-Key: a retry answers the first submission's job; another key, another job; a bad key: 400"
K='{"argv": ["true"], "gpus_per_node": 1, "name": "idem"}'
api POST /api/v1/jobs "$T/alice.tok" "$K" -H 'Idempotency-Key: rest-retry-1'
want 201
I1=$(body 'd["id"]')
api POST /api/v1/jobs "$T/alice.tok" "$K" -H 'Idempotency-Key: rest-retry-1'
[ "$ST" = 201 ] || [ "$ST" = 200 ] || fail "retry: $ST $(cat "$T/body")"
[ "$(body 'd["id"]')" = "$I1" ] || fail "a retry made job $(body 'd["id"]'), not $I1"
api POST /api/v1/jobs "$T/alice.tok" "$K" -H 'Idempotency-Key: rest-retry-2'
want 201
[ "$(body 'd["id"]')" != "$I1" ] || fail "another key answered the same job"
api POST /api/v1/jobs "$T/alice.tok" "$K" -H 'Idempotency-Key: has space'
want 400 "idempotency key"

log "the controller stops cleanly (under ASan: no leak, no error)"
stop_controller_clean
log "PASS"

#!/bin/bash
# api_openapi.sh - docs/api/openapi.json against the server: the controller serves it (and
# schema.json, which it references) without a token, byte for byte the files of the tree; it
# is an OpenAPI 3.1 document as far as jsonschema can tell (its structure, every $ref
# resolving, every schema a valid draft 2020-12 schema); its paths and methods are exactly
# the server's route table (src/api/rest.c's routes[] and /metrics), each path's 405 names
# the methods the document gives; and every route is tried for every status it documents
# (but 503), each answer's body valid against the schema the document gives for that route
# and status (a JSON error object for a refusal, text/plain for logs and metrics); the lists
# are the CLI's --json, item for item. Run with
# OPENAPI=FILE to check another document against the server (how the test is shown to fail).
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
command -v curl >/dev/null || { echo "curl is missing"; exit 77; }
"$PY" -c 'import jsonschema' 2>/dev/null || fail "python3-jsonschema is missing (scripts/install-deps.sh)"

start_controller --http 127.0.0.1:0 --http-address-file "$T/http-address"
H=$(cat "$T/http-address")
agents_pub

api_people
"$B" user add adm --tenant A --uid 61004 --gid 61004 >/dev/null || fail "adm"
"$B" user set adm --role admin >/dev/null || fail "adm admin"
"$B" token create --user adm --scope admin >"$T/adm.tok" || fail "adm's token"
as() { local u=$1; shift; COLOSSUS_TOKEN=$(cat "$T/$u.tok") "$B" "$@"; }

log "jobs: one that ended, two running, bob's, one that cannot run yet"
DONE=$(as alice submit --gpus-per-node 1 -- sh -c 'echo hello from rank 0') || fail "submit"
as alice wait "$DONE" --timeout 30 >/dev/null || fail "job $DONE did not succeed"
RUN1=$(as alice submit --gpus-per-node 1 -- sleep 600) || fail "submit"
RUN2=$(as alice submit --gpus-per-node 1 -- sleep 600) || fail "submit"
BOBS=$(as bob submit --gpus-per-node 1 -- sleep 600) || fail "submit"
for j in "$RUN1" "$RUN2" "$BOBS"; do wait_state "$j" running 20 || fail "job $j not running"; done
PEND=$(as alice submit -N 2 --gpus-per-node 2 -- true) || fail "submit"
wait_state "$PEND" pending 10 || fail "job $PEND not pending"
OSCJ=$(as oscar submit --hold --gpus-per-node 1 -- true) || fail "submit --hold"

curl -sf -o "$T/openapi.json" "$H/api/v1/openapi.json" || fail "GET /api/v1/openapi.json without a token"
curl -sf -o "$T/schema.json" "$H/api/v1/schema.json" || fail "GET /api/v1/schema.json without a token"
cmp "$T/openapi.json" "$ROOT/docs/api/openapi.json" || fail "the served openapi.json is not docs/api/openapi.json"
cmp "$T/schema.json" "$ROOT/docs/api/schema.json" || fail "the served schema.json is not docs/api/schema.json"

log "the document against the server"
export B H T ROOT DONE RUN1 RUN2 BOBS PEND OSCJ
"$PY" "$ROOT/tests/integration/api_openapi.py" "${OPENAPI:-$T/openapi.json}" "$T/schema.json" ||
    fail "the OpenAPI document and the server disagree"
log "PASS"

#!/bin/bash
# svc_roles.sh - issue 11's roles on a real cluster (docs/security.md, "Who may do what"):
#   - mia manages tenant P: she sees and cancels P's jobs, not Q's ("no job N"); she sets the
#     quota of P's sub-tenant S, not P's own nor Q's; she adds P to a user's tenants, but
#     cannot take Q away from him; she cannot drain; with a submit-scoped token her role
#     does not act;
#   - una, a plain user of P, does not see the jobs of P's sub-tenant S (sam's); mia does;
#   - oscar is an operator: he drains and resumes nodes and sees every job, but cancels
#     only his own and adds no tenant;
#   - `token list`: a user lists only its own tokens, an admin every one, a revoked one as
#     revoked; a user revokes its own, not another's;
#   - every refusal is one line, exit 1, and refused changes are audited with the name.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"

start_controller
start_agent n1 4
wait_nodes_up 1
chmod 755 "$T"
mkdir -m 1777 "$T/pub"
cd "$T/pub"

"$B" tenant add P --quota-gpus 8 >/dev/null || fail "tenant P"
"$B" tenant add S --parent P --quota-gpus 4 >/dev/null || fail "tenant S"
"$B" tenant add Q >/dev/null || fail "tenant Q"
"$B" user add mia --tenant P:manager --uid 61031 --gid 61031 >/dev/null || fail "mia"
"$B" user add una --tenant P --uid 61032 --gid 61032 >/dev/null || fail "una"
"$B" user add quinn --tenant Q --uid 61033 --gid 61033 >/dev/null || fail "quinn"
"$B" user add sam --tenant S --uid 61035 --gid 61035 >/dev/null || fail "sam"
"$B" user add oscar --tenant Q --uid 61034 --gid 61034 >/dev/null || fail "oscar"
"$B" user set oscar --role operator >/dev/null || fail "oscar operator"
tok() { "$B" token create --user "$1" --scope "$2" >"$T/$1-$2.tok" 2>/dev/null || fail "token $1 $2"; }
tok mia admin; tok mia submit; tok una submit; tok quinn submit; tok oscar admin; tok sam submit
as() { local t=$1; shift; COLOSSUS_TOKEN=$(cat "$T/$t.tok") "$B" "$@"; }
refused() { # TOKEN WORDS CMD...: exit 1, one line naming the refusal (WORDS in it)
    local t=$1 words=$2 rc=0
    shift 2
    as "$t" "$@" >/dev/null 2>"$T/err" || rc=$?
    [ $rc = 1 ] || fail "exit $rc (not 1) for $t: $* ($(cat "$T/err"))"
    [ "$(wc -l <"$T/err")" = 1 ] || fail "not one line for $t: $*: $(cat "$T/err")"
    grep -q "$words" "$T/err" || fail "$t: $*: $(cat "$T/err")"
    log "  refused ($t): $* -> $(cat "$T/err")"
}

JP=$(as una-submit submit --gpus-per-node 1 -- sleep 600) || fail "una's job"
JQ=$(as quinn-submit submit --gpus-per-node 1 -- sleep 600) || fail "quinn's job"
wait_state "$JP" running 20 || fail "una's job did not start"
wait_state "$JQ" running 20 || fail "quinn's job did not start"
JS=$(as sam-submit submit --gpus-per-node 1 -- true) || fail "sam's job"
"$B" wait "$JS" >/dev/null || fail "sam's job did not succeed"
refused una-submit "no job $JS" show "$JS"
[ "$(as una-submit jobs --all --json | jfield "[j['id'] for j in d]")" = "[$JP]" ] ||
    fail "una's jobs: $(as una-submit jobs --all)"
[ "$(as mia-submit show "$JS" --json | jfield 'd["user"]')" = sam ] || fail "mia cannot see S's job"

log "mia, manager of P"
[ "$(as mia-admin show "$JP" --json | jfield 'd["user"]')" = una ] || fail "mia cannot see P's job"
refused mia-admin "no job $JQ" show "$JQ"
refused mia-admin "no job $JQ" cancel "$JQ"
as mia-admin tenant set S --quota-gpus 2 >/dev/null || fail "mia cannot split P's quota"
[ "$("$B" tenant show S --json | jfield 'd["quota_gpus"]')" = 2 ] || fail "S's quota"
refused mia-admin "only an admin" tenant set P --quota-gpus 100
refused mia-admin "only an admin" tenant set Q --quota-gpus 1
as mia-admin user set quinn --tenant Q --tenant P >/dev/null || fail "mia cannot add P to quinn"
[ "$("$B" user list --json | jfield "sorted(t['tenant'] for u in d if u['name']=='quinn' for t in u['tenants'])")" = "['P', 'Q']" ] ||
    fail "quinn's tenants: $("$B" user list)"
refused mia-admin "you do not manage tenant Q" user set quinn --tenant P
refused mia-admin "operator" drain n1 --reason fan
refused mia-submit "admin scope" tenant set S --quota-gpus 3
as mia-admin cancel "$JP" >/dev/null || fail "mia cannot cancel P's job"
wait_state "$JP" cancelled 20 || fail "P's job not cancelled"

log "oscar, operator"
as oscar-admin drain n1 --reason "fan" >/dev/null || fail "oscar cannot drain"
[ "$("$B" nodes --json | jfield 'd[0]["state"]')" = draining ] || fail "n1: $("$B" nodes)"
as oscar-admin resume n1 >/dev/null || fail "oscar cannot resume"
[ "$("$B" nodes --json | jfield 'd[0]["state"]')" = up ] || fail "n1 after resume: $("$B" nodes)"
[ "$(as oscar-admin show "$JP" --json | jfield 'd["state"]')" = cancelled ] || fail "oscar sees all"
refused oscar-admin "cancel" cancel "$JQ"
refused oscar-admin "only an admin" tenant add Z
[ "$(job_state "$JQ")" = running ] || fail "quinn's job changed"

log "token list and revoke"
ids() { jfield "sorted((t['user'], t['revoked']) for t in d)"; }
[ "$(as una-submit token list --json | ids)" = "[('una', False)]" ] ||
    fail "una's token list: $(as una-submit token list)"
[ "$("$B" token list --json | jfield 'len(d)')" = 6 ] || fail "admin's token list: $("$B" token list)"
MIA_SUB=$(cut -d. -f2 "$T/mia-submit.tok")
refused una-submit "" token revoke "$MIA_SUB"
as mia-admin token revoke "$MIA_SUB" >/dev/null || fail "mia cannot revoke her own token"
[ "$(as mia-admin token list --json | ids)" = "[('mia', False), ('mia', True)]" ] ||
    fail "mia's token list: $(as mia-admin token list)"

log "the refused changes are audited"
"$B" audit --json >"$T/audit.json" || fail "audit"
python3 - "$T/audit.json" <<'PY' || fail "audit: $(cat "$T/audit.json")"
import json, sys
d = json.load(open(sys.argv[1]))
def refused(who, op):
    return any(r["who"] == who and r["op"] == op and not r["ok"] for r in d)
for who, op in [("mia", "tenant set"), ("mia", "user set"), ("mia", "drain"), ("mia", "cancel"),
                ("oscar", "cancel"), ("oscar", "tenant add")]:
    assert refused(who, op), (who, op)
assert any(r["who"] == "oscar" and r["op"] == "drain" and r["ok"] for r in d)
PY
log "ok"

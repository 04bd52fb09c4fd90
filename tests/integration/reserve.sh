#!/bin/bash
# reserve.sh - issue 15's node reservations on 2 agents x 2 fake GPUs: a maintenance window
# keeps every job off its nodes (pending, the reason naming it) until it is deleted; a
# tenant's window lets only that tenant's jobs in; a future window keeps off the jobs that
# would run into it (a job without a time limit always would) but not a short one; the
# reservations survive a controller restart; operators only (a user is refused with a clear
# error), audited; bad input (a negative duration, a start in the past, an unknown pod or
# node, a taken name) refused with exit 2, nothing made.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 4 --gpus-per-node 2
agents_pub
api_people
as() { local u=$1; shift; COLOSSUS_TOKEN=$(cat "$T/$u.tok") "$B" "$@"; }
pending_has() { job_field "$1" "d['pending_reason'] or ''" | grep -qF -- "$2"; }
nresv() { "$B" reserve list --json | jfield 'len(d)'; }

log "a maintenance window now: jobs pend, the reason names it"
as oscar reserve --nodes 'n[1-2]' --start now --duration 1h --name maint >r.out ||
    fail "reserve: $(cat r.out)"
grep -q "reservation maint (id 1)" r.out || fail "reserve said: $(cat r.out)"
J=$(as alice submit --gpus-per-node 1 -- true) || fail "submit J"
wait_for 10 pending_has "$J" "ReqNodeNotAvail: nodes it could use are in reservation maint" ||
    fail "J: $("$B" show "$J" --json)"
"$B" reserve list | grep -qE "^maint +1 +active .* - +2 +n\[1-2\]$" ||
    fail "list: $("$B" reserve list)"
[ "$("$B" reserve list --json | jfield 'd[0]["nodes"]+" "+str(d[0]["tenant"])+" "+d[0]["state"]+" "+d[0]["created_by"]')" = \
    "n[1-2] None active oscar" ] || fail "list --json: $("$B" reserve list --json)"

log "a user may not reserve nor delete: a clear refusal; it is audited"
rc=0; as alice reserve --nodes n1 --start now --duration 1h 2>u.err || rc=$?
[ $rc = 1 ] && grep -q "reserve: permission denied: reserve needs a credential of admin scope" u.err ||
    fail "alice reserved: $rc $(cat u.err)"
rc=0; as bob reserve delete maint 2>u.err || rc=$?
[ $rc = 1 ] && grep -q "permission denied" u.err || fail "bob deleted: $rc $(cat u.err)"
"$B" audit --json | jfield '[(a["op"], a["target"], a["ok"]) for a in d if a["op"].startswith("reserve")]' >audit.txt
grep -q "('reserve', 'maint', True)" audit.txt && grep -q "('reserve delete', 'maint', False)" audit.txt ||
    fail "audit: $(cat audit.txt)"

log "a restart keeps it"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller --nodes 4 --gpus-per-node 2
wait_nodes_up 2
[ "$(nresv)" = 1 ] || fail "after restart: $("$B" reserve list)"
wait_for 20 pending_has "$J" "in reservation maint" || fail "J after restart: $("$B" show "$J" --json)"

log "deleted: the job runs"
as oscar reserve delete maint >d.out || fail "delete: $(cat d.out)"
wait_state "$J" succeeded 20 || fail "J after the delete: $("$B" show "$J")"
[ "$(nresv)" = 0 ] || fail "still listed"

log "a tenant's window: only its jobs"
as oscar reserve --nodes n1 --start now --duration 1h --tenant A --name teamA >/dev/null ||
    fail "reserve --tenant"
K=$(as bob submit -w n1 --gpus-per-node 1 -- true) || fail "bob's job"
wait_for 10 pending_has "$K" "in reservation teamA" || fail "K: $("$B" show "$K" --json)"
L=$(as alice submit -w n1 --gpus-per-node 1 -- true) || fail "alice's job"
wait_state "$L" succeeded 20 || fail "alice's job in her tenant's window: $("$B" show "$L")"

log "a future window: a job that would run into it waits, a short one runs"
as oscar reserve --nodes n2 --start +1h --duration 1h --name later >/dev/null || fail "reserve later"
N=$(as alice submit -w n2 --gpus-per-node 1 -- true) || fail "no-limit job"
S=$(as alice submit -w n2 -t 10 --gpus-per-node 1 -- true) || fail "short job"
wait_state "$S" succeeded 20 || fail "a 10-minute job before the window: $("$B" show "$S")"
wait_for 10 pending_has "$N" "in reservation later" || fail "N: $("$B" show "$N" --json)"
"$B" reserve list | grep -q "^later .* waiting " || fail "list: $("$B" reserve list)"

log "a window that ends: deleted at the tick, the job waiting for it runs"
as oscar reserve delete teamA >/dev/null || fail "delete teamA"
as oscar reserve --nodes n1 --start now --duration 4s --name blip >/dev/null || fail "reserve blip"
Q=$(as alice submit -w n1 --gpus-per-node 1 -- true) || fail "submit Q"
wait_for 10 pending_has "$Q" "in reservation blip" || fail "Q: $("$B" show "$Q" --json)"
wait_state "$Q" succeeded 20 || fail "Q after the window: $("$B" show "$Q")"
"$B" reserve list | grep -q "^blip " && fail "an ended window still listed"
grep -q "reserve: blip ended: deleted" "$T/controller.log" || fail "no log of the end"

log "bad input: exit 2, named, nothing made"
before=$(nresv)
badr() {
    local text=$1 rc=0; shift
    "$B" reserve "$@" >bad.out 2>bad.err || rc=$?
    [ $rc = 2 ] && grep -qF -- "$text" bad.err || fail "reserve $*: exit $rc, want '$text': $(cat bad.err)"
}
badr "--duration must be a positive duration" --nodes n1 --start now --duration -5
badr "--duration must be more than 0" --nodes n1 --start now --duration 0
badr "is in the past" --nodes n1 --start 2020-01-01 --duration 1h
badr "no pod 'nope'" --pod nope --start now --duration 1h
badr "--nodes: no node 'n9'" --nodes 'n[1,9]' --start now --duration 1h
badr "there is a reservation later already" --nodes n1 --start now --duration 1h --name later
badr "no tenant 'Z'" --nodes n1 --start now --duration 1h --tenant Z
badr "give --nodes HOSTLIST or --pod POD" --start now --duration 1h
badr "--nodes: 'n[' at byte" --nodes 'n[' --start now --duration 1h
rc=0; "$B" reserve delete nope 2>bad.err || rc=$?
[ $rc = 2 ] && grep -q "no reservation 'nope'" bad.err || fail "delete nope: $rc $(cat bad.err)"
[ "$(nresv)" = "$before" ] || fail "bad input made reservations"
stop_controller_clean
log "PASS"

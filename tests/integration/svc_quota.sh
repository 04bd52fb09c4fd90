#!/bin/bash
# svc_quota.sh - issue 11's quotas, borrowing, reclaim and budgets end to end on a loopback
# cluster of 4 nodes x 2 GPUs, and fair share surviving a controller kill -9:
#   1. A and B share cohort c1 (quota 4 each): A's preemptible jobs borrow B's idle quota
#      (A runs 8 GPUs, `tenant show A` says 4 borrowed);
#   2. B asks for its quota: A's newest borrowed jobs are preempted and B's jobs start;
#      the preempted ones pend with the quota reason;
#   3. C (no cohort, quota 2) runs one 2-GPU job, its second pends with the quota reason;
#   4. a job that can never run is refused at submit;
#   5. D's budget (0.001 GPU-hours, stop when spent) stops its job, which pends "budget";
#   6. kill -9 of the controller: A's decayed usage is back after the restart.
# timeout: 150
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 4 --gpus-per-node 2
for i in 1 2 3 4; do start_agent "n$i" 2; done
wait_nodes_up 4
chmod 755 "$T"
mkdir -m 1777 "$T/pub"
cd "$T/pub"

"$B" qos add scavenger --preemptible --max-priority 10 || fail "qos add"
"$B" tenant add A --quota-gpus 4 --cohort c1 --borrow-limit 4 || fail "tenant A"
"$B" tenant add B --quota-gpus 4 --cohort c1 || fail "tenant B"
"$B" tenant add C --quota-gpus 2 || fail "tenant C"
"$B" tenant add D --budget-gpu-hours 0.001 --budget-stop || fail "tenant D"
"$B" user add alice --tenant A --uid 61001 --gid 61001 --qos scavenger || fail "alice"
"$B" user add bob --tenant B --uid 61002 --gid 61002 || fail "bob"
"$B" user add carol --tenant C --tenant D --uid 61003 --gid 61003 || fail "carol"
for u in alice bob carol; do "$B" token create --user $u > "$T/$u.tok" || fail "token $u"; done
as() { local u=$1; shift; COLOSSUS_TOKEN=$(cat "$T/$u.tok") "$B" "$@"; }
reason() { "$B" show "$1" --json | jfield 'd.get("pending_reason", "")'; }
tfield() { "$B" tenant show "$1" --json | jfield "$2"; }

log "1. A borrows B's idle quota"
A=()
for i in 1 2 3 4; do A+=("$(as alice submit --gpus-per-node 2 -- sleep 600)") || fail "submit A$i"; done
for j in "${A[@]}"; do wait_state "$j" running 20 || fail "A's job $j: $(reason "$j")"; done
[ "$(tfield A 'd["gpus_running"], d["borrowed_gpus"]')" = "8 4" ] ||
    fail "A: $("$B" tenant show A --json)"

log "2. B reclaims its quota: A's newest borrowed jobs make room"
B1=$(as bob submit --gpus-per-node 2 -- sleep 600) || fail "submit B1"
B2=$(as bob submit --gpus-per-node 2 -- sleep 600) || fail "submit B2"
wait_state "$B1" running 20 || fail "B1 did not start: $(reason "$B1")"
wait_state "$B2" running 20 || fail "B2 did not start: $(reason "$B2")"
for j in "${A[2]}" "${A[3]}"; do
    wait_state "$j" pending 20 || fail "A's newest job $j was not the one preempted"
    reason "$j" | grep -qi quota || fail "job $j pends for: $(reason "$j")"
done
for j in "${A[0]}" "${A[1]}"; do [ "$(job_state "$j")" = running ] || fail "A's oldest $j stopped"; done
[ "$(tfield A 'd["gpus_running"], d["borrowed_gpus"]')" = "4 0" ] || fail "A after reclaim"
"$B" history --json | jfield "[r['ended'] for r in d if r['job']==${A[3]}]" | grep -q preempted ||
    fail "the preempted run has no usage record"
for j in "${A[@]}" "$B1" "$B2"; do "$B" cancel "$j" >/dev/null; done

log "3. C's quota"
C1=$(as carol submit --tenant C --gpus-per-node 2 -- sleep 600) || fail "C1"
C2=$(as carol submit --tenant C --gpus-per-node 2 -- sleep 600) || fail "C2"
wait_state "$C1" running 20 || fail "C1 did not start"
wait_for 10 bash -c "\"$B\" show $C2 --json | grep -qi '\"pending_reason\": \"[^\"]*quota'" ||
    fail "C2 pends for: $(reason "$C2")"
"$B" jobs | grep "^ *$C2 " | grep -qi quota || fail "jobs does not show the reason: $("$B" jobs)"
"$B" cancel "$C1" >/dev/null; "$B" cancel "$C2" >/dev/null

log "4. a job that can never run is refused"
out=$(as carol submit -N 5 --gpus-per-node 2 -- true 2>&1) && fail "-N 5 accepted: $out"
echo "$out" | grep -q "can never run: needs 5 nodes of 2 GPUs, the cluster has 4" || fail "message: $out"

log "5. D's budget is spent: its job is stopped and pends"
D1=$(as carol submit --tenant D --gpus-per-node 2 -- sleep 600) || fail "D1"
wait_state "$D1" running 20 || fail "D1 did not start"
wait_for 30 bash -c "\"$B\" show $D1 --json | grep -qi '\"pending_reason\": \"[^\"]*budget'" ||
    fail "D1 was not stopped by its budget: $(job_field "$D1" 'd["state"], d.get("pending_reason")')"
[ "$(tfield D 'd["budget_left_gpu_hours"] == 0')" = True ] || fail "budget left: $(tfield D 'd')"
D2=$(as carol submit --tenant D --gpus-per-node 1 -- true) || fail "D2"
wait_for 10 bash -c "\"$B\" show $D2 --json | grep -qi '\"pending_reason\": \"[^\"]*budget'" ||
    fail "D2 pends for: $(reason "$D2")"

log "6. fair share survives kill -9"
u1=$(tfield A 'd["usage_gpu_s"]')
python3 -c "import sys; sys.exit(0 if float('$u1') > 0 else 1)" || fail "A has no usage: $u1"
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
CTL_ADDR=$CTL_ADDR start_controller --nodes 4 --gpus-per-node 2
u2=$(tfield A 'd["usage_gpu_s"]')
python3 -c "import sys; a, b = float('$u1'), float('$u2'); sys.exit(0 if b >= 0.99 * a else 1)" ||
    fail "A's usage was $u1 before the kill, $u2 after"
log "ok: A's usage $u1 -> $u2 GPU-s across kill -9"

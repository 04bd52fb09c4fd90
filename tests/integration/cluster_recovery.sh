#!/bin/bash
# cluster_recovery.sh - kill -9 of the controller while 100 submissions are in flight and a
# job runs: after the restart every acknowledged job is present exactly once, the running job
# was reconciled (same incarnation, no restart counted) and completes; job ids continue.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 8 --gpus-per-node 4
for i in 1 2 3 4; do start_agent "n$i" 4; done
wait_nodes_up 4
cd "$T"

# Runs until the test says stop, so that it is surely running when the controller dies.
R=$("$B" submit -N 2 --gpus-per-node 4 --name long -- sh -c 'echo "inc $COLOSSUS_RESTART" >> runs.$RANK; while [ ! -e stopR ]; do sleep 0.1; done')
wait_state "$R" running 20 || fail "long job not running"

# A client waiting on the job across the controller's death and restart.
"$B" wait "$R" --timeout 90 > wait.out 2>&1 &
WAITER=$!
PIDS+=($WAITER)

log "100 submissions; controller killed with -9 in the middle"
: > acked
(
    for i in $(seq 100); do
        # Retry only when the request cannot have reached a controller (no connection);
        # a submission whose answer was lost is not retried, so none can be there twice.
        for try in $(seq 100); do
            if id=$("$B" submit --gpus-per-node 1 --name "s$i" -- true 2>err.$i); then
                echo "$id" >> acked
                break
            fi
            cat err.$i >> submit-errors
            grep -q "cannot connect" err.$i || break
            sleep 0.1
        done
    done
) &
SUBMITTER=$!
PIDS+=($SUBMITTER)
wait_for 30 bash -c '[ "$(wc -l < acked)" -ge 30 ]' || fail "submissions too slow"
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
n_before=$(wc -l < acked)
log "controller killed after $n_before acknowledged submissions"
# The waiting client has seen the controller go away before it comes back.
wait_for 10 grep -q "retrying" wait.out || fail "the waiting client did not see the controller go: $(cat wait.out)"
start_controller --nodes 8 --gpus-per-node 4   # same address, same state dir
log "controller restarted"
wait "$SUBMITTER"
n_acked=$(wc -l < acked)
log "$n_acked submissions acknowledged in all ($(wc -l < submit-errors) tries refused while it was down)"
[ "$n_acked" -gt "$n_before" ] || fail "no submission acknowledged after the restart"

wait_for 20 grep -q "job $R reconciled" controller.log || fail "job $R not reconciled"
[ "$(job_state "$R")" = running ] || fail "job $R not running after the restart"
touch stopR
"$B" wait "$R" --timeout 40 || fail "the running job did not complete after the controller restart"
wait "$WAITER" || fail "a wait started before the controller died did not end in success: $(cat wait.out)"
grep -q "retrying" wait.out || fail "the waiting client did not see the controller go away: $(cat wait.out)"
[ "$(job_field "$R" 'd["incarnation"]')" = 1 ] || fail "running job was relaunched (incarnation $(job_field "$R" 'd["incarnation"]'))"
[ "$(job_field "$R" 'd["restarts"]')" = 0 ] || fail "restart counted for a job that never stopped"
for r in 0 1 2 3 4 5 6 7; do [ "$(cat runs.$r)" = "inc 0" ] || fail "rank $r ran more than once: $(cat runs.$r)"; done
grep -q "job $R reconciled" controller.log || fail "no reconciliation logged"

"$B" jobs --all --json > all.json
python3 - <<'PY' || fail "journal check failed"
import json
jobs = json.load(open("all.json"))
ids = [j["id"] for j in jobs]
assert len(ids) == len(set(ids)), "duplicate job ids"
acked = [int(x) for x in open("acked").read().split()]
assert len(acked) == len(set(acked)), "an id was acknowledged twice"
missing = set(acked) - set(ids)
assert not missing, "acknowledged jobs lost: %s" % sorted(missing)
names = [j["name"] for j in jobs if j["name"].startswith("s")]
assert len(names) == len(set(names)), "a submission is present twice"
print("%d jobs, %d acknowledged, all present once" % (len(ids), len(acked)))
PY
# every acknowledged trivial job runs to success
for id in $(cat acked); do
    "$B" wait "$id" --timeout 60 >/dev/null || fail "job $id did not succeed"
done
log "PASS"

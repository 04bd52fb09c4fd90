#!/bin/bash
# cluster_retention.sh - finished jobs leave the controller's memory --keep-finished seconds
# after they end; `show`, `wait`, `logs` and `cancel` then answer from the journal, with the
# same fields (restarts included), across a controller restart too; job ids keep counting;
# the controller's memory stays flat over thousands of jobs (run on a hollow agent's nodes,
# whose launches start no process: on the real agent the 24,000 launches took two minutes).
# timeout: 240
. "$(dirname "$0")/cluster_lib.bash"
start_controller --keep-finished 1
start_agent n1 4
wait_nodes_up 1
cd "$T"
J=$("$B" submit --gpus-per-node 1 --name kept -- sh -c 'echo hello-from-$RANK') || fail "submit"
"$B" wait "$J" >/dev/null || fail "job $J"
"$B" show --json "$J" > live.json
"$B" jobs --all | grep -q "^$J " || fail "finished job not listed while kept"
log "waiting past --keep-finished"
wait_for 10 bash -c "! \"$B\" jobs --all | grep -q '^$J '" || fail "job $J still listed after its keep time"
"$B" show --json "$J" > old.json || fail "show of a forgotten job"
python3 - <<'PY' || fail "journal view differs: $(cat live.json old.json)"
import json
a, b = json.load(open("live.json")), json.load(open("old.json"))
for k in ("id", "name", "state", "restarts", "nodes", "exit_code", "submit_time", "start_time", "end_time", "running_time", "argv"):
    assert a[k] == b[k], (k, a[k], b[k])
PY
"$B" wait "$J" >/dev/null || fail "wait on a forgotten job"
"$B" logs "$J" | grep -q hello-from-0 || fail "logs of a forgotten job"
"$B" cancel "$J" 2>err.txt && fail "cancel of a finished job accepted"
grep -q "already succeeded" err.txt || fail "cancel message: $(cat err.txt)"
"$B" show 999999 2>err.txt && fail "show of a job that never existed"
grep -q "no job 999999" err.txt || fail "message: $(cat err.txt)"

log "a failed job, read back from the journal"
F=$("$B" submit --gpus-per-node 1 -- false)
"$B" wait "$F" >/dev/null && fail "false succeeded"
wait_for 10 bash -c "! \"$B\" jobs --all | grep -q '^$F '" || fail "job $F still listed"
[ "$(job_field "$F" 'd["state"], d["exit_code"]')" = "failed 1" ] || fail "failed job from journal: $(job_field "$F" 'd')"

log "controller restart: old jobs stay in the journal, ids keep counting"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
CTL_ADDR=$(cat "$T/addr") start_controller --keep-finished 1
wait_nodes_up 1
[ "$(job_field "$J" 'd["state"]')" = succeeded ] || fail "job $J after restart"
K=$("$B" submit --gpus-per-node 1 -- true)
[ "$K" -gt "$F" ] || fail "job id $K reused (last was $F)"
"$B" wait "$K" >/dev/null || fail "job $K"

log "memory stays flat over 8 x 6,000 jobs (on hollow nodes: the controller's memory is the point)"
"$B" drain n1 --reason "the rounds run on hollow nodes" >/dev/null || fail "drain n1"
start_hollow 1 4 0 20 4
client=$(dirname "$(dirname "$B")")/build/bench/cluster_client # built by make check
[ -x "$client" ] || fail "$client is missing (make check builds it)"
rss() { awk '/VmRSS/ {print $2}' /proc/$CTL_PID/status; }
# The controller's memory grows to a ceiling of its own (the journal's page caches, one per
# SQLite connection, full once the journal outgrows them, and the batches' buffers): ~33 MB
# here, reached at a round that varies with the batches' timing, between the 3rd and the 6th
# (2026-12-06: 10 runs of 4 to 10 rounds; two 10-round runs flat from the 5th at 33,080 kB,
# one 6-round run still growing 2.4 MB a round at rounds 5 and 6). Comparing rounds 3 and 4
# failed clean runs of make check at 2 and at 4 MB. Rounds 6 and 8 are compared: a job kept
# in memory costs ~1.2 KB, 7.9 MB a round, 15.8 MB over the two: at most 6 MB (it grows in
# steps: one run grew 1.6 MB from round 7 to 8 after three flat rounds).
for round in 1 2 3 4 5 6 7 8; do
    "$client" "$CTL_ADDR" "$T/key" 6000 > "round$round.json" || fail "round $round"
    # every job has ended: --keep-finished later the tick forgets them, and the list is empty
    wait_for 20 bash -c "[ \"\$(\"$B\" jobs --all --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 0 ]" ||
        fail "round $round: jobs still kept: $("$B" jobs --all | head -n 5)"
    eval "rss$round=$(rss)"
done
log "controller RSS after each round: $rss1 $rss2 $rss3 $rss4 $rss5 $rss6 $rss7 $rss8 kB"
[ "$rss8" -le $((rss6 + 6144)) ] || fail "controller memory grew from $rss6 to $rss8 kB"
log PASS

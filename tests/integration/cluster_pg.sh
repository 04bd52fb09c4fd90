#!/bin/bash
# cluster_pg.sh - the controller on a PostgreSQL journal (issue 14), against a real throwaway
# server (tests/pg_server.bash):
#   1. a URL that is malformed, or where no server listens, stops the controller at start
#      with a message naming the URL (its password hidden) and a non-zero exit;
#   2. `colossus up --store postgresql://...` runs a job; the journal is in the database (no
#      SQLite file is made), `colossus history` answers from it;
#   3. after `colossus down` and a new `up` on the same database the controller still knows
#      the job and its history, and job ids go on above it;
#   4. the server drops the controller's connections, then restarts: the commit that finds
#      out fails and is retried on a new connection, the submission is acknowledged once it
#      is written, and the log says so.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
. "$(dirname "$0")/../pg_server.bash"
PG_TEST_BEFORE='[ -n "${D:-}" ] && "$B" down --dir "$D"'
pg_for_test colossus
cd "$T"
URL=$PG_DB_URL

log "1. bad store URLs are refused at start"
for bad in "postgresql://alice:s3cret@127.0.0.1:1/colossus" "postgresql://h/db?nosuchparam=1"; do
    timeout 30 "$B" controller --state-dir "$T/bad" --listen 127.0.0.1:0 --key "$T/key" \
        --store "$bad" >out.txt 2>err.txt
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "controller on $bad: exit $rc"
    grep -q "the journal .* cannot be written: store: " err.txt || fail "$bad: $(cat err.txt)"
    grep -q s3cret err.txt && fail "the password is shown: $(cat err.txt)"
done
timeout 30 "$B" controller --state-dir "$T/bad" --listen 127.0.0.1:0 --key "$T/key" \
    --store "postgresql://alice:s3cret@127.0.0.1:1/colossus" 2>err.txt
grep -qF "cannot connect to postgresql://alice:***@127.0.0.1:1/colossus: connection to server at \"127.0.0.1\", port 1 failed" err.txt ||
    fail "unreachable: $(cat err.txt)"
timeout 30 "$B" controller --state-dir "$T/bad" --listen 127.0.0.1:0 --key "$T/key" \
    --store "postgresql://h/db?nosuchparam=1" 2>err.txt
grep -qF "'postgresql://h/db?nosuchparam=1' is not a PostgreSQL URL: invalid URI query parameter" err.txt ||
    fail "malformed: $(cat err.txt)"

log "2. up --store postgresql://: a job, its history"
D=$T/up
"$B" up --dir "$D" --nodes 2 --gpus-per-node 1 --store "$URL" >up.log 2>&1 || fail "up: $(cat up.log)"
export COLOSSUS_DIR=$D COLOSSUS_CONTROLLER= COLOSSUS_KEY=
J=$("$B" submit -N 2 --gpus-per-node 1 --name pgjob -- sh -c 'echo rank $RANK') || fail "submit"
wait_state "$J" succeeded 30 || fail "job $J: $("$B" show "$J")"
[ ! -e "$D/state/colossus.db" ] || fail "a SQLite journal was made beside PostgreSQL"
[ "$(pg_psql colossus -tAc "SELECT state, name FROM jobs WHERE id=$J")" = "2|pgjob" ] ||
    fail "job $J not in PostgreSQL: $(pg_psql colossus -tAc 'SELECT id, state, name FROM jobs')"
wait_for 20 bash -c "[ \"\$(\"$B\" history --json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r[\"job\"] == $J))')\" = 1 ]" ||
    fail "history: $("$B" history 2>&1)"
[ "$(pg_psql colossus -tAc "SELECT ended FROM usage_records WHERE job=$J")" = succeeded ] ||
    fail "usage record of $J: $(pg_psql colossus -tAc 'SELECT * FROM usage_records')"
"$B" down --dir "$D" >/dev/null || fail "down"

log "3. a restart on the same database knows the job"
"$B" up --dir "$D" --nodes 2 --gpus-per-node 1 --store "$URL" >up2.log 2>&1 || fail "up again: $(cat up2.log)"
[ "$(job_field "$J" 'd["state"]')" = succeeded ] || fail "job $J after the restart: $("$B" show "$J" 2>&1)"
"$B" history --json | python3 -c "import json,sys; r=[x for x in json.load(sys.stdin) if x['job'] == $J]; assert len(r) == 1 and r[0]['ended'] == 'succeeded', r" ||
    fail "history after the restart: $("$B" history 2>&1)"
J2=$("$B" submit --gpus-per-node 1 -- true) || fail "submit after the restart"
[ "$J2" -gt "$J" ] || fail "job id $J2 not above $J"
wait_state "$J2" succeeded 30 || fail "job $J2"

log "4. connections dropped, then the server restarted, under the controller"
CL=$D/logs/controller.log
pg_psql colossus -tAc "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname='colossus' AND pid<>pg_backend_pid()" >/dev/null
J3=$("$B" submit --gpus-per-node 1 -- true) || fail "submit after the connections were dropped"
wait_state "$J3" succeeded 30 || fail "job $J3"
grep -q "journal: commit of batch .* failed: store: .*terminating connection.*retrying" "$CL" ||
    fail "no failed commit logged: $(grep journal "$CL" | tail -n 5)"
grep -q "committed after [0-9]* failed attempts" "$CL" || fail "no recovery line: $(grep journal "$CL" | tail -n 5)"
pg_restart || fail "pg_ctl restart"
J4=$("$B" submit --gpus-per-node 1 -- true) || fail "submit after the server restarted"
wait_state "$J4" succeeded 30 || fail "job $J4"
[ "$(pg_psql colossus -tAc "SELECT count(*) FROM jobs WHERE id IN ($J3, $J4) AND state=2")" = 2 ] ||
    fail "jobs $J3 $J4 not in PostgreSQL"
"$B" down --dir "$D" >/dev/null || fail "down"
D=
log PASS

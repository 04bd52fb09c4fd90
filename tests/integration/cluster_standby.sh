#!/bin/bash
# cluster_standby.sh - standby controllers on one PostgreSQL journal (issue 14,
# docs/standby.md), against a real throwaway server (tests/pg_server.bash):
#   1. two controllers on one database: the first leads and listens; the second says it is a
#      standby and does not listen; 2 agents and the CLI are given both addresses (a list
#      with a bad address is refused, exit 2);
#   2. a submission with an idempotency key, sent twice, is one job;
#   3. kill -9 of the leader under a stream of submissions: the standby takes the lead and
#      listens, the agents re-register with it, the running job keeps running (0 restarts,
#      the same incarnation, no rank started again), every submission is acknowledged once
#      (its retry across the failover is the same job: one job per submission), and the key
#      of step 2 still names its job;
#   4. SIGSTOP of the new leader past its lease: a third controller takes the lead; the old
#      one, resumed, commits nothing (a submission sent to it alone is not acknowledged and is
#      not in the journal) and steps down (exit 70, saying why); the job still runs, 0
#      restarts, and ends;
#   5. the controllers upgraded one at a time under the running job (a standby of a new
#      build, then the old leader stopped cleanly: the new build leads; a second new standby),
#      the job untouched (0 restarts), and a clean stop gives the lease up;
#   6. `colossus up --standby` (and without --store postgresql:// refused): a local cluster of
#      two controllers; kill -9 of the leader, the standby takes over, the cluster works on;
#      `colossus down` stops both.
# timeout: 180
. "$(dirname "$0")/cluster_lib.bash"
. "$(dirname "$0")/../pg_server.bash"
pg_for_test colossus
cd "$T"
URL=$PG_DB_URL
DEAD_MS=3000 # the recovery window (dead-after + 1.5 s) outlasts step 4's pause
read -r PA PB < <(python3 -c '
import socket
s=[socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
A=127.0.0.1:$PA BB=127.0.0.1:$PB
export COLOSSUS_CONTROLLER=$A,$BB

# ctl NAME PORT [ARGS...]: a controller on the shared journal, its log NAME.log, its address
# file addr-NAME (written once it leads and listens)
declare -A CPID
ctl() {
    local name=$1 port=$2
    shift 2
    "${CTL_BIN:-$B}" controller --state-dir "$T/$name" --listen "127.0.0.1:$port" --key "$T/key" \
        --store "$URL" --address-file "$T/addr-$name" --heartbeat-ms "$HB_MS" \
        --dead-after-ms "$DEAD_MS" --nodes 2 --gpus-per-node 1 "$@" >>"$T/$name.log" 2>&1 &
    CPID[$name]=$!
    PIDS+=($!)
}
lease() { pg_psql colossus -tAc "SELECT holder FROM colossus_lease"; }

log "1. a leader and a standby"
ctl a "$PA"
wait_for 20 test -s addr-a || fail "the first controller does not lead"
ctl b "$PB" --identity "$T/a/identity" # one identity: tokens and agents trust either
wait_for 20 grep -q "standby: the journal .* is led by .* pid ${CPID[a]}: waiting" b.log ||
    fail "no standby line"
[ ! -e addr-b ] || fail "the standby listens"
out=$("$B" jobs --controller "$A,nocolon" 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "'nocolon' in the list '$A,nocolon': address 'nocolon' is not HOST:PORT" ||
    fail "a bad list: exit $rc: $out"
CTL_ADDR=$COLOSSUS_CONTROLLER
start_agent n1 1
start_agent n2 1
wait_nodes_up 2
cat >job.sh <<'SH'
echo "start rank=$RANK pid=$$" >>"starts"
i=0
while [ ! -e stop ]; do i=$((i + 1)); [ $((i % 2)) = 0 ] && echo "line $((i / 2))"; sleep 0.1; done
SH
J=$("$B" submit -N 2 --gpus-per-node 1 --name long -- sh "$T/job.sh") || fail "submit"
wait_for 20 bash -c '[ "$(wc -l <starts 2>/dev/null)" = 2 ]' || fail "2 ranks did not start"
wait_state "$J" running 10 || fail "job $J not running"

log "2. an idempotency key: one job"
K1=$(COLOSSUS_IDEMPOTENCY_KEY=key-one "$B" submit --gpus-per-node 1 --hold -- true) || fail "submit k1"
K1b=$(COLOSSUS_IDEMPOTENCY_KEY=key-one "$B" submit --gpus-per-node 1 --hold -- true) || fail "submit k1 again"
[ "$K1" = "$K1b" ] || fail "the same key made jobs $K1 and $K1b"
bad=$(COLOSSUS_IDEMPOTENCY_KEY="a b" "$B" submit -- true 2>&1) && fail "a key with a space taken"
echo "$bad" | grep -q "idempotency key: printable ASCII without spaces only" || fail "bad key: $bad"

log "3. kill -9 of the leader under submissions (and under a logs -f, which follows on)"
"$B" logs -f --rank 0 "$J" >follow.out 2>follow.err &
FOLLOW=$!
PIDS+=($FOLLOW)
wait_for 10 grep -q "^line 3$" follow.out || fail "logs -f shows nothing: $(cat follow.err)"
(for i in $(seq 1 40); do
    id=$("$B" submit --gpus-per-node 1 --hold --name "load-$i" -- true 2>>load.err)
    echo "$i $? $id" >>load.out
done) &
LOADER=$!
PIDS+=($LOADER)
wait_for 20 bash -c '[ "$(wc -l <load.out 2>/dev/null)" -ge 8 ]' || fail "submissions do not go"
t_kill=$(date +%s.%N)
kill -9 "${CPID[a]}"
wait_for 15 test -s addr-b || fail "the standby did not take the lead"
t_lead=$(date +%s.%N)
log "the standby leads and listens $(python3 -c "print(int(($t_lead - $t_kill) * 1000))") ms after the kill"
grep -q "took the lead of .* after .* s of standby" b.log || fail "no takeover line"
wait "$LOADER" || true
[ "$(wc -l <load.out)" = 40 ] || fail "the loader did not finish: $(cat load.out load.err)"
awk '$2 != 0' load.out | grep -q . && fail "submissions failed: $(awk '$2 != 0' load.out; cat load.err)"
[ "$(awk '{print $3}' load.out | sort -u | wc -l)" = 40 ] || fail "ids not distinct: $(cat load.out)"
dups=$(pg_psql colossus -tAc "SELECT name, count(*) FROM jobs WHERE name LIKE 'load-%' GROUP BY name HAVING count(*) <> 1")
[ -z "$dups" ] || fail "a submission made several jobs: $dups"
[ "$(pg_psql colossus -tAc "SELECT count(*) FROM jobs WHERE name LIKE 'load-%'")" = 40 ] ||
    fail "not 40 load jobs: $(pg_psql colossus -tAc "SELECT id, name FROM jobs WHERE name LIKE 'load-%'")"
while read -r i rc id; do
    [ "$(pg_psql colossus -tAc "SELECT name FROM jobs WHERE id=$id")" = "load-$i" ] ||
        fail "acknowledged job $id (load-$i) is not in the journal as such"
done <load.out
K1c=$(COLOSSUS_IDEMPOTENCY_KEY=key-one "$B" submit --gpus-per-node 1 --hold -- true) || fail "submit k1 after"
[ "$K1c" = "$K1" ] || fail "after the failover key-one made job $K1c, not $K1"
wait_nodes_up 2
wait_for 10 grep -q "job $J reconciled: still running on its 2 nodes" b.log || fail "job $J not reconciled"
[ "$(job_field "$J" 'd["state"], d["restarts"], d["incarnation"]')" = "running 0 1" ] ||
    fail "job $J after the failover: $("$B" show "$J")"
[ "$(wc -l <starts)" = 2 ] || fail "ranks started again: $(cat starts)"
at_kill=$(awk -v t="$t_kill" 'END {print NR}' follow.out)
wait_for 20 bash -c "[ \$(grep -c '^line ' follow.out) -ge $((at_kill + 10)) ]" ||
    fail "logs -f did not follow on after the failover: $(tail -3 follow.out; cat follow.err)"
kill -0 "$FOLLOW" || fail "logs -f ended: $(cat follow.err)"
grep -q "following on through the controller that leads now" follow.err || fail "follow.err: $(cat follow.err)"
n=$(grep -c '^line ' follow.out)
[ "$(grep '^line ' follow.out | sort -u | wc -l)" = "$n" ] || fail "logs -f printed lines twice"
[ "$(grep '^line ' follow.out | tail -1)" = "line $n" ] || fail "logs -f lost lines: $(tail -3 follow.out)"

log "4. SIGSTOP of the leader past its lease"
ctl c "$PA" --identity "$T/a/identity"
wait_for 20 grep -q "standby: the journal .* is led by .* pid ${CPID[b]}: waiting" c.log ||
    fail "the third controller is no standby"
kill -STOP "${CPID[b]}"
wait_for 15 test -s addr-c || fail "no controller took the lead from the paused one"
log "the lease is $(lease)'s"
COLOSSUS_CONTROLLER=$BB "$B" submit --gpus-per-node 1 --hold --name stale -- true >stale.out 2>stale.err &
STALE=$!
sleep 0.3 # its connection waits in the paused controller's backlog
kill -CONT "${CPID[b]}"
wait "${CPID[b]}"
rc=$?
[ $rc = 70 ] || fail "the resumed controller exited $rc, not 70"
grep -q "lost the lead: .*no longer this controller's.*stepping down" b.log || fail "no step-down line"
wait "$STALE" && fail "a submission to the resumed old leader was acknowledged: $(cat stale.out)"
log "the stale submission: $(tail -n 1 stale.err)"
[ "$(pg_psql colossus -tAc "SELECT count(*) FROM jobs WHERE name='stale'")" = 0 ] ||
    fail "the old leader committed a job"
wait_nodes_up 2
[ "$(job_field "$J" 'd["state"], d["restarts"], d["incarnation"]')" = "running 0 1" ] ||
    fail "job $J after the second failover: $("$B" show "$J")"

log "5. the controllers upgraded one at a time under the job: a standby of a new build, the leader stopped"
mkdir -p "$T/bin"
cp "$B" "$T/bin/colossus" && printf 'build 2' >>"$T/bin/colossus"
CTL_BIN=$T/bin/colossus ctl d "$PB" --identity "$T/a/identity"
wait_for 20 grep -q "standby: the journal .* is led by .* pid ${CPID[c]}: waiting" d.log ||
    fail "the new build is no standby"
kill "${CPID[c]}" # a clean stop: the lease given up, the new build leads at once
wait "${CPID[c]}" || fail "clean stop of the old leader: exit $?"
wait_for 15 test -s addr-d || fail "the new build did not take the lead"
CTL_BIN=$T/bin/colossus ctl e "$PA" --identity "$T/a/identity"
wait_for 20 grep -q "standby: the journal .* is led by .* pid ${CPID[d]}: waiting" e.log ||
    fail "the second new controller is no standby"
wait_nodes_up 2
[ "$(job_field "$J" 'd["state"], d["restarts"], d["incarnation"]')" = "running 0 1" ] ||
    fail "job $J after the controllers' upgrade: $("$B" show "$J")"
touch stop
wait_state "$J" succeeded 20 || fail "job $J did not end"
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] && [ "$(wc -l <starts)" = 2 ] ||
    fail "job $J restarted: $("$B" show "$J"; cat starts)"

log "5b. a clean stop gives the lease up"
kill "${CPID[e]}" # a standby holds nothing
wait "${CPID[e]}"
kill "${CPID[d]}"
wait "${CPID[d]}" || fail "clean stop: exit $?"
[ -z "$(lease)" ] || fail "the lease is still $(lease)'s"
stop_all

log "6. colossus up --standby"
out=$("$B" up --dir "$T/bad-up" --standby 2>&1) && fail "up --standby on SQLite: $out"
echo "$out" | grep -q -- "--standby needs --store postgresql://" || fail "up --standby: $out"
pg_createdb upsb || fail "createdb upsb"
D=$T/up
"$B" up --dir "$D" --nodes 2 --gpus-per-node 1 --store "$PG_DB_URL" --standby >up.log 2>&1 ||
    fail "up --standby: $(cat up.log)"
PIDS+=($(awk '{print $3}' "$D/pids"))
grep -q "the second is its standby" up.log || fail "up said nothing of the standby: $(cat up.log)"
[ "$(tr ',' '\n' <"$D/address" | wc -l)" = 2 ] || fail "the address file lists $(cat "$D/address")"
export COLOSSUS_DIR=$D COLOSSUS_CONTROLLER= COLOSSUS_KEY=
J=$("$B" submit -N 2 --gpus-per-node 1 -- sh -c 'while [ ! -e '"$T"'/stop2 ]; do sleep 0.1; done') ||
    fail "submit on up --standby"
wait_state "$J" running 20 || fail "job $J on up --standby"
kill -9 "$(awk '$2 == "controller" {print $3}' "$D/pids")"
wait_for 15 test -s "$D/address-standby" || fail "the standby of up did not take over"
wait_for 20 bash -c "[ \"\$(\"$B\" nodes --json | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n[\"state\"]==\"up\" and n[\"connected\"]))')\" = 2 ]" ||
    fail "the agents of up did not follow: $("$B" nodes 2>&1)"
touch "$T/stop2"
wait_state "$J" succeeded 20 || fail "job $J after up's failover: $("$B" show "$J")"
[ "$(job_field "$J" 'd["restarts"]')" = 0 ] || fail "job $J restarted"
UPP=$(awk '{print $3}' "$D/pids")
"$B" down --dir "$D" >down.log || fail "down: $(cat down.log)"
grep -q "2 agents and the controller stopped" down.log || fail "down: $(cat down.log)"
for p in $UPP; do kill -0 "$p" 2>/dev/null && fail "pid $p outlived down"; done
log PASS

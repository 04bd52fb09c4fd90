#!/bin/bash
# failover.bash - issue 14's standby figure: two controllers on one PostgreSQL journal (a
# throwaway server, tests/pg_server.bash, fsync on), 2 agents and LOADERS clients submitting
# without pause (`colossus submit` given both addresses, as a user would: each invocation with
# its own idempotency key, retried across a failover). KILLS times: kill -9 the leader, take
# the time from the kill to the first submission acknowledged after it (by the standby, now
# leading: the old one is dead), start the killed one again as the standby, let the load run
# PAUSE s. Then every acknowledged submission is looked up in the journal: lost (not there,
# or another job under its id) and duplicated (its name more than once) must be 0.
# Prints one JSON object: the distribution (p50, p99, max) and the counts.
# Run: make bench-failover, or bash bench/failover.bash [KILLS [LOADERS [PAUSE]]]
# (50 kills: about 2 minutes)
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
. "$(dirname "$0")/../tests/pg_server.bash"
KILLS=${1:-50} LOADERS=${2:-4} PAUSE=${3:-0.5}
say() { echo "$*" >&2; }
PG_FSYNC=on pg_for_test colossus
cd "$T"
read -r PA PB < <(python3 -c '
import socket
s=[socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
declare -A PORT=([a]=$PA [b]=$PB) CPID
export COLOSSUS_CONTROLLER=127.0.0.1:$PA,127.0.0.1:$PB
CTL_ADDR=$COLOSSUS_CONTROLLER
DEAD_MS=3000

# ctl NAME: (re)start controller NAME on its port; the first start makes the identity the
# others share
ctl() {
    local id=()
    [ -e "$T/a/identity" ] && id=(--identity "$T/a/identity")
    "$B" controller --state-dir "$T/$1" --listen "127.0.0.1:${PORT[$1]}" --key "$T/key" \
        --store "$PG_DB_URL" --address-file "$T/addr-$1" --heartbeat-ms "$HB_MS" \
        --dead-after-ms "$DEAD_MS" --nodes 2 --gpus-per-node 1 "${id[@]}" >>"$T/$1.log" 2>&1 &
    CPID[$1]=$!
    PIDS+=($!)
}
ctl a
wait_for 20 test -s addr-a || fail "controller a does not lead"
ctl b
wait_for 20 grep -q "standby: the journal" b.log || fail "controller b is no standby"
start_agent n1 1
start_agent n2 1
wait_nodes_up 2

# the load: each loader submits held jobs (nothing runs) one after the other, and writes
# "START-TIME ACK-TIME EXIT-STATUS ID NAME" for each
LPIDS=()
for l in $(seq 1 "$LOADERS"); do
    (i=0
     while [ ! -e stop-load ]; do
         i=$((i + 1))
         t=$(date +%s.%N)
         id=$("$B" submit --gpus-per-node 1 --hold --name "l$l-$i" -- true 2>>"load$l.err")
         echo "$t $(date +%s.%N) $? ${id:-0} l$l-$i" >>"load$l.out"
     done) &
    PIDS+=($!)
    LPIDS+=($!)
done
# the first acknowledgement of a submission begun after $1 (the old leader dead by then:
# only the new one can have answered it)
acks_after() { cat load*.out 2>/dev/null | awk -v t="$1" '$1 > t && $3 == 0 {print $2; exit}'; }
wait_for 20 bash -c '[ "$(cat load*.out 2>/dev/null | wc -l)" -ge 20 ]' || fail "the load does not go"

leader=a standby=b
: >lat.txt
for k in $(seq 1 "$KILLS"); do
    t_kill=$(date +%s.%N)
    kill -9 "${CPID[$leader]}"
    wait "${CPID[$leader]}" 2>/dev/null
    t_dead=$(date +%s.%N)
    t0=$SECONDS
    until t_ack=$(acks_after "$t_dead") && [ -n "$t_ack" ]; do
        [ $((SECONDS - t0)) -ge 30 ] && fail "kill $k: no acknowledgement 30 s after it"
        sleep 0.01
    done
    python3 -c "print(round(($t_ack - $t_kill) * 1000, 1))" >>lat.txt
    say "kill $k of $KILLS: controller $leader killed, $standby acknowledged after $(tail -n 1 lat.txt) ms"
    n=$(grep -c "standby: the journal" "$leader.log")
    ctl "$leader"
    wait_for 20 bash -c "[ \$(grep -c 'standby: the journal' $leader.log) -gt $n ]" ||
        fail "kill $k: $leader did not come back as the standby"
    tmp=$leader leader=$standby standby=$tmp
    sleep "$PAUSE"
done
touch stop-load
for p in "${LPIDS[@]}"; do wait "$p"; done
cat load*.out >acks.txt
pg_psql colossus -tA -F ' ' -c "SELECT id, name FROM jobs WHERE name LIKE 'l%-%'" >journal.txt
python3 - "$KILLS" "$LOADERS" <<'PY'
import json, os, sys
lat = sorted(float(x) for x in open("lat.txt"))
acks = [l.split() for l in open("acks.txt") if l.strip()]
journal = {}
names = {}
for l in open("journal.txt"):
    if not l.strip():
        continue
    i, n = l.split()
    journal[int(i)] = n
    names[n] = names.get(n, 0) + 1
ok = [a for a in acks if a[2] == "0"]
lost = sum(1 for a in ok if journal.get(int(a[3])) != a[4])
dup = sum(1 for n, c in names.items() if c > 1)
def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
print(json.dumps({"bench": "failover", "kills": len(lat), "loaders": int(sys.argv[2]),
                  "cores": os.cpu_count(), "kill_to_ack_ms": {"p50": pct(50), "p99": pct(99),
                  "max": lat[-1], "min": lat[0]},
                  "submissions": len(acks), "acknowledged": len(ok),
                  "not_acknowledged": len(acks) - len(ok), "lost": lost,
                  "duplicated": dup}, indent=1))
PY

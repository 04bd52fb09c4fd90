#!/bin/bash
# pg_start.bash - issue 14's second figure: a controller start from a journal of 1,000,000
# jobs (JOBS; LIVE of them pending, the rest finished over the 30 days before, each with its
# usage record), on PostgreSQL (a throwaway server, tests/pg_server.bash, fsync on) and, for
# comparison, on SQLite: bench/journal_fill.c fills each, then the controller is started on it
# and timed from exec until it answers a client about its newest job (every start's load,
# the id floor and the listeners done). Target: <= 10 s on PostgreSQL. Prints one JSON object.
# Run: make bench-pg-start, or JOBS=N LIVE=L bash bench/pg_start.bash
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
. "$(dirname "$0")/../tests/pg_server.bash"
root=$(cd "$(dirname "$0")/.." && pwd)
FILL=$root/build/bench/journal_fill
[ -x "$FILL" ] || fail "$FILL is missing: run make bench-pg-start"
JOBS=${JOBS:-1000000} LIVE=${LIVE:-10000}
pg_cleanup() { local rc=$?; pg_stop; (exit $rc); cleanup; }
trap pg_cleanup EXIT
PG_FSYNC=on pg_start >"$T/pg_start.log" 2>&1 || fail "PostgreSQL: $(cat "$T/pg_start.log")"
pg_createdb start || fail "createdb"
ms() { date +%s%3N; }

# start_timed URL: start a controller on URL, print the milliseconds until `show JOB` answers
start_timed() {
    local t0 t1
    rm -f "$T/addr"
    t0=$(ms)
    "$B" controller --state-dir "$T/state" --listen 127.0.0.1:0 --key "$T/key" \
        --address-file "$T/addr" --nodes 8 --gpus-per-node 8 --store "$1" \
        >>"$T/controller.log" 2>&1 &
    CTL_PID=$!
    wait_for 120 test -s "$T/addr" || fail "controller did not start on $1"
    export COLOSSUS_CONTROLLER=$(cat "$T/addr")
    wait_for 120 "$B" show "$JOBS" || fail "job $JOBS unknown after the start"
    t1=$(ms)
    kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null; CTL_PID=
    echo $((t1 - t0))
}

out=()
for store in "$PG_DB_URL" "sqlite:$T/sq"; do
    echo "pg_start: filling $store with $JOBS jobs" >&2
    fill=$("$FILL" "$store" --jobs "$JOBS" --live "$LIVE" --usage 2>/dev/null) || fail "fill $store"
    first=$(start_timed "$store")
    second=$(start_timed "$store")
    rec=$(grep -o "recovered [0-9]* jobs from the journal ([0-9]* not finished" "$T/controller.log" | tail -n 1)
    out+=("{\"fill\": $fill, \"start_ms\": [$first, $second], \"log\": \"$rec\"}")
done
size=$(pg_psql start -tAc "SELECT pg_database_size('start') / 1000000")
python3 - "${out[0]}" "${out[1]}" "$size" "$(du -sm "$T/sq" | cut -f1)" <<'PY'
import json, os, sys
pg, sq = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pg["db_mb"], sq["db_mb"] = int(sys.argv[3]), int(sys.argv[4])
print(json.dumps({"bench": "pg_start", "cores": os.cpu_count(), "postgresql": pg, "sqlite": sq},
                 indent=1))
PY
